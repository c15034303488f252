#!/usr/bin/env bash
# The one command that runs every check: lint, types, unit and integration tests, notebooks.
# Extra arguments go to pytest (e.g. `bash scripts/test.sh tests/test_nodes.py -x`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# tests/docker needs a daemon and the offline images: CI must have them (a skip there would hide
# it); elsewhere those tests are skipped. The first build takes about a minute, then seconds.
if ! bash scripts/docker.sh; then missing="no Docker daemon"
elif ! bash scripts/images.sh; then missing="no Docker test images"
else missing= && export CONDUCTO_NB_DOCKER=1; fi
if [ -n "$missing" ] && [ -n "${CI:-}" ]; then
  echo "test: $missing, and CI needs them (the line above says why)" >&2
  exit 1
fi
[ -z "$missing" ] || echo "test: $missing: Docker tests will be skipped" >&2
# The graph widget's tests need Debian's chromium (driven by playwright: never `playwright
# install`), graphviz's `dot` (the static SVG) and libatomic1. Installed when missing, as root;
# without them tests/browser is skipped, except under CI, where that is an error
# (tests/browser/conftest.py).
apt_missing=()
[ -x "${CONDUCTO_NB_CHROMIUM:-/usr/bin/chromium}" ] || apt_missing+=(chromium)
command -v dot >/dev/null || apt_missing+=(graphviz)
# playwright's bundled node driver needs libatomic, which a minimal Debian lacks.
compgen -G '/usr/lib/*/libatomic.so.1' >/dev/null || compgen -G '/lib/*/libatomic.so.1' >/dev/null ||
  apt_missing+=(libatomic1)
if ((${#apt_missing[@]})) && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "test: installing ${apt_missing[*]} from Debian" >&2
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends "${apt_missing[@]}"; } \
    >/tmp/conducto_nb-apt-browser.log 2>&1 ||
    echo "test: apt-get install ${apt_missing[*]} failed (/tmp/conducto_nb-apt-browser.log)" >&2
fi
# The widget's committed bundle must be what its TypeScript sources build to (and type-check).
bash scripts/build_widget.sh --check
# The lab extension's committed build must be of its current sources (and the widget's).
bash scripts/build_lab.sh --check
. .venv/bin/activate
ruff check .
ruff format --check .
mypy
# loadfile keeps each notebook's cells together, in order, in one kernel. A cell marked
# `# NBVAL_CHECK_OUTPUT` must print what the committed notebook shows, once the sanitize file has
# replaced times, ids, addresses and temporary paths on both sides.
nbval=(--nbval-lax --nbval-sanitize-with notebooks/nbval_sanitize.cfg)
pytest -n "${PYTEST_WORKERS:-2}" --dist loadfile "${nbval[@]}" "$@"
# The notebooks ran on the local backend (conftest.py); a lesson must work on Docker too, the
# default wherever a daemon answers, with the same checked outputs.
if [ $# -eq 0 ] && [ -z "$missing" ]; then
  CONDUCTO_NB_BACKEND=docker \
    pytest -n "${PYTEST_WORKERS:-2}" --dist loadfile "${nbval[@]}" notebooks
fi
