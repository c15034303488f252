#!/usr/bin/env bash
# Make or refresh the project's venv (.venv) on a fresh Debian machine as root, or anywhere with
# python3. Idempotent: when pyproject.toml has not changed, a second run takes about a second.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${CONDUCTO_NB_VENV:-.venv}
EXTRAS=${CONDUCTO_NB_EXTRAS:-test,lab}  # lab: the graph widget, which the tests cover too

apt_missing=()
command -v python3 >/dev/null || apt_missing+=(python3)
python3 -c 'import ensurepip, venv' 2>/dev/null || apt_missing+=(python3-venv)
command -v git >/dev/null || apt_missing+=(git)
if ((${#apt_missing[@]})); then
  echo "setup: installing ${apt_missing[*]} from Debian" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_missing[@]}" >/dev/null
fi

[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
# The lab extension's built files are copied into the venv at install time (shared-data), so
# a new build (its sources' hash) installs again, as a changed pyproject.toml does.
stamp="$VENV/.installed-$( (cat pyproject.toml conducto_nb/lab/labextension/sources.sha256
  echo "$EXTRAS") | sha256sum | cut -c1-16)"
if [ ! -e "$stamp" ]; then
  echo "setup: installing conducto_nb[$EXTRAS] into $VENV" >&2
  pip_quiet() {  # this machine's pip.conf names absent mirrors: hide only those warnings
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$@" 2>&1 |
      { grep -v -e 'is ignored: it is neither a file nor a directory' \
          -e 'is ignored: it is either a non-existing path or lacks a specific scheme' || true; }
  }
  pip_quiet --upgrade pip
  pip_quiet -e ".[$EXTRAS]"
  rm -f "$VENV"/.installed-*
  touch "$stamp"
fi
