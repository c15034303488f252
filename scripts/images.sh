#!/usr/bin/env bash
# Build the images the Docker backend's tests and notebooks use, offline (Docker Hub is not
# reachable from these machines; only Debian's mirror and PyPI are):
#   conducto-nb/busybox:latest  (+ busybox:latest)     busybox-static from Debian, 2 MB
#   conducto-nb/debian:bookworm                         debootstrap --variant=minbase
#   conducto-nb/python:3.11     (+ python:3.11-slim)    FROM it: Debian's python3, pip, cloudpickle
# Idempotent and cached: each image carries a label with the hash of its recipe, and is rebuilt
# only when that changes; the debootstrap rootfs is kept as a tarball under $CACHE. A second run
# takes a fraction of a second. Starts a daemon first (scripts/docker.sh). One line per image on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
HERE=$PWD/scripts/images
SUITE=bookworm
LABEL=org.conducto-nb.inputs
if [ "$(id -u)" = 0 ]; then CACHE=${CONDUCTO_NB_CACHE:-/var/cache/conducto_nb}
else CACHE=${CONDUCTO_NB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/conducto_nb}; fi
export DOCKER_BUILDKIT=0  # bookworm has no buildx: the legacy builder, said explicitly

fail() { echo "images.sh: $*" >&2; exit 1; }

bash scripts/docker.sh || fail "no Docker daemon: cannot build images"
DOCKER=docker
timeout 10 docker info >/dev/null 2>&1 || DOCKER=/usr/bin/docker  # see docker.sh

mkdir -p "$CACHE"
exec 9>"$CACHE/images.lock"  # two builds at once would race on the tags and the rootfs
flock 9

ms() { date +%s%3N; }
report() {  # IMAGE WHAT START_MS
  local t=$(($(ms) - $3))
  printf 'images: %-30s %-10s (%d.%d s)\n' "$1" "$2" $((t / 1000)) $((t % 1000 / 100))
}
digest() { sha256sum | cut -c1-16; }
label_of() { $DOCKER image inspect -f "{{ index .Config.Labels \"$LABEL\" }}" "$1" 2>/dev/null || true; }

# The familiar name (python:3.11-slim) makes notebooks read like real ones; a real image of
# that name (a machine that can reach Docker Hub) is left alone: it works as well.
alias_tag() {  # OURS ALIAS
  if ! $DOCKER image inspect "$2" >/dev/null 2>&1 || [ -n "$(label_of "$2")" ]; then
    $DOCKER tag "$1" "$2"
  fi
}

apt_updated=
need() {  # PACKAGE: install it from Debian unless dpkg says it is there
  [[ $(dpkg-query -W -f '${Status}' "$1" 2>/dev/null) == *"ok installed" ]] && return 0
  [ "$(id -u)" = 0 ] || fail "package $1 is missing and only root can apt-get install it"
  export DEBIAN_FRONTEND=noninteractive
  local log=$CACHE/apt.log
  if [ -z "$apt_updated" ]; then
    apt-get update -qq >"$log" 2>&1 || fail "apt-get update failed: $(tail -n 1 "$log")"
  fi
  apt_updated=1
  apt-get install -y -qq --no-install-recommends "$1" >"$log" 2>&1 ||
    fail "apt-get install $1 failed: $(tail -n 1 "$log")"
}

# The Debian mirror apt already uses (one-line or deb822 sources), so debootstrap reaches it.
debian_mirror() {
  local uri
  uri=$({
    grep -hsE '^[[:space:]]*deb[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list |
      sed -E 's/\[[^]]*\]//' | awk '{print $2}'
    grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources | sed -E 's/^URIs:[[:space:]]*//' | tr ' ' '\n'
  } | grep -E '^https?://.*/debian/?$' | head -n 1 || true)
  echo "${CONDUCTO_NB_DEBIAN_MIRROR:-${uri:-http://deb.debian.org/debian}}"
}

# ---------------------------------------------------------------- busybox
build_busybox() {  # TAG HASH
  need busybox-static  # static: the image has no libc (Debian's plain busybox is dynamic)
  local bin=/bin/busybox root
  root=$(mktemp -d)
  mkdir -p "$root"/{bin,etc,root,tmp}
  chmod 1777 "$root/tmp"
  cp "$bin" "$root/bin/busybox"
  # Every applet but busybox itself: a busybox -> busybox link would replace the binary.
  "$bin" --list | grep -vx busybox | while read -r applet; do ln -s busybox "$root/bin/$applet"; done
  echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
  echo 'root:x:0:' >"$root/etc/group"
  tar --numeric-owner -C "$root" -c . |
    $DOCKER import --change "LABEL $LABEL=$2" --change 'ENV PATH=/bin' --change 'CMD ["sh"]' \
      - "$1" >/dev/null
  rm -rf "$root"
}

# ---------------------------------------------------------------- Debian base
build_rootfs() {  # TARBALL MIRROR
  need debootstrap
  local dir=$CACHE/rootfs.tmp log=$CACHE/debootstrap.log
  rm -rf "$dir"
  debootstrap --variant=minbase "$SUITE" "$dir" "$2" >"$log" 2>&1 ||
    fail "debootstrap $SUITE from $2 failed: $(tail -n 1 "$log") (log: $log)"
  rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/cache/apt/*.bin "$dir"/var/lib/apt/lists/*
  tar --numeric-owner -C "$dir" -cf "$1.tmp" .
  mv "$1.tmp" "$1"
  rm -rf "$dir"
}

build_debian() {  # TAG HASH MIRROR
  local tarball=$CACHE/debian-$SUITE-minbase-$2.tar
  if [ ! -s "$tarball" ]; then
    rm -f "$CACHE"/debian-"$SUITE"-minbase-*.tar  # an older recipe's rootfs
    build_rootfs "$tarball" "$3"
  fi
  $DOCKER import --change "LABEL $LABEL=$2" --change 'CMD ["bash"]' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    "$tarball" "$1" >/dev/null
}

# ---------------------------------------------------------------- Python
build_python() {  # TAG HASH BASE
  local ctx log=$CACHE/build-python.log cert
  ctx=$(mktemp -d)
  cp "$HERE/python.Dockerfile" "$ctx/Dockerfile"
  mkdir "$ctx/pip"
  # The host's CA bundle and index settings, so pip in the build gets through the same proxy.
  cert=${PIP_CERT:-${REQUESTS_CA_BUNDLE:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}}
  if [ -s "$cert" ]; then cp "$cert" "$ctx/pip/ca.crt"; else : >"$ctx/pip/ca.crt"; fi
  # conducto_nb.images.dockerfile.pip_config keeps only the host's networked index settings; the
  # venv exists whenever test.sh or demo.sh call this (they run setup.sh first).
  local py=$HERE/../../.venv/bin/python
  if [ -x "$py" ] && "$py" -c 'import conducto_nb' 2>/dev/null; then
    "$py" -c 'import sys; from conducto_nb.images.dockerfile import pip_config
open(sys.argv[1], "w").write(pip_config(sys.argv[2]))' "$ctx/pip/pip.conf" /tmp/pip/ca.crt
  else
    printf '[global]\ncert = /tmp/pip/ca.crt\n' >"$ctx/pip/pip.conf"
  fi
  [ -s "$cert" ] || sed -i '/^cert = /d' "$ctx/pip/pip.conf"
  $DOCKER build --build-arg "BASE=$3" --label "$LABEL=$2" -t "$1" "$ctx" >"$log" 2>&1 ||
    { rm -rf "$ctx"; fail "docker build of $1 failed: $(grep -v '^ ---> \|^Removing' "$log" | tail -n 1) (log: $log)"; }
  rm -rf "$ctx"
}

# ---------------------------------------------------------------- the images
start=$(ms)
tag=conducto-nb/busybox:latest
hash=$(declare -f build_busybox | digest)
if [ "$(label_of "$tag")" = "$hash" ]; then what="up to date"; else build_busybox "$tag" "$hash"; what=built; fi
alias_tag "$tag" busybox:latest
report "$tag" "$what" "$start"

start=$(ms)
tag=conducto-nb/python:3.11
base=conducto-nb/debian:$SUITE
mirror=$(debian_mirror)
base_hash=$( (declare -f build_rootfs build_debian; echo "$SUITE $mirror") | digest)
hash=$( (declare -f build_python; cat "$HERE/python.Dockerfile"; echo "$base_hash") | digest)
if [ "$(label_of "$tag")" = "$hash" ]; then
  what="up to date"
else
  # Only a rebuild of python needs the base: a second run never touches the rootfs.
  if [ "$(label_of "$base")" != "$base_hash" ]; then
    build_debian "$base" "$base_hash" "$mirror"
    report "$base" built "$start"
    start=$(ms)
  fi
  build_python "$tag" "$hash" "$base"
  what=built
fi
alias_tag "$tag" python:3.11-slim
report "$tag" "$what" "$start"

# A rebuild leaves the previous image untagged: drop those of ours, never anyone else's.
$DOCKER image prune -f --filter "label=$LABEL" >/dev/null 2>&1 || true
