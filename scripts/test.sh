#!/usr/bin/env bash
# The one command that runs every check: lint, types, unit and integration tests, notebooks.
# Extra arguments go to pytest (e.g. `bash scripts/test.sh tests/test_nodes.py -x`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
ruff check .
ruff format --check .
mypy
# loadfile keeps each notebook's cells together, in order, in one kernel.
pytest -n "${PYTEST_WORKERS:-2}" --dist loadfile --nbval-lax "$@"
