#!/usr/bin/env bash
# The main job: set up, then run the demo pipeline (examples/demo.py) and show its tree of states.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# A daemon and the offline images, for the Docker backend; the demo itself runs locally for now.
if bash scripts/docker.sh && bash scripts/images.sh; then
  export CONDUCTO_NB_DOCKER=1
else
  echo "demo: no Docker daemon: the demo runs on the local backend" >&2
fi
exec .venv/bin/conducto-nb run examples/demo.py "$@"
