#!/usr/bin/env bash
# The main job: set up, then run the demo pipeline (examples/demo.py) and show its tree of states.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/conducto-nb run examples/demo.py "$@"
