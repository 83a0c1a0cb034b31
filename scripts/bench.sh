#!/usr/bin/env bash
# Runs every benchmark in bench/ (not part of `make test`); each prints its own table.
set -euo pipefail
cd "$(dirname "$0")/.."
export PAYSYNC_ENV=development  # scratch databases: the development key is fine
status=0
for b in bench/bench_*.py; do
  [ -e "$b" ] || continue
  echo "== $b"
  .venv/bin/python "$b" || status=1
done
exit $status
