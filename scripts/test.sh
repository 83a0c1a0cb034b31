#!/usr/bin/env bash
# Runs the whole suite (benchmarks excluded) against the local services; extra
# arguments go to pytest. `make test` starts the services and calls this.
# The tests mostly wait on real workers, Redis and PostgreSQL, so they run in
# PAYSYNC_TEST_WORKERS pytest processes (default 4; 0 runs them in this process), each with
# its own Redis, database and sandbox (tests/conftest.py, tests/harness.py).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/compose-check.sh
.venv/bin/ruff check .
.venv/bin/mypy   # the packages in [tool.mypy] files (pyproject.toml)
export PAYSYNC_ENV=test
# the local services' addresses, unless the caller gave them (`make test` does)
[ -n "${DATABASE_URL:-}" ] && [ -n "${REDIS_URL:-}" ] || source <(scripts/services.sh env)
workers="${PAYSYNC_TEST_WORKERS:-4}"
parallel=()
[ "$workers" != 0 ] && parallel=(-n "$workers")
exec .venv/bin/pytest -m "not bench" -p no:cacheprovider "${parallel[@]}" "$@"
