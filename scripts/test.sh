#!/usr/bin/env bash
# Runs the whole suite (benchmarks excluded) against the local services; extra
# arguments go to pytest. `make test` starts the services and calls this.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/compose-check.sh
.venv/bin/ruff check .
.venv/bin/mypy   # the packages in [tool.mypy] files (pyproject.toml)
export PAYSYNC_ENV=test
exec .venv/bin/pytest -m "not bench" -p no:cacheprovider "$@"
