#!/usr/bin/env bash
# Make a Docker daemon answer on this machine, for the Docker backend and its tests.
# Idempotent: when a daemon already answers it does nothing (well under a second). Otherwise, as
# root, it installs Debian's docker.io if dockerd is missing and starts dockerd in the background
# (these machines have no systemd). Exit 0 when a daemon answers; otherwise one line on stderr
# saying why, and exit 1: callers decide whether that is fatal.
set -euo pipefail
LOG=${CONDUCTO_NB_DOCKERD_LOG:-/var/log/conducto_nb-dockerd.log}
WAIT=${CONDUCTO_NB_DOCKERD_WAIT:-30}  # seconds; dockerd comes up in ~0.5 s here

fail() { echo "docker.sh: $*" >&2; exit 1; }

# The static 28.x CLI on PATH speaks to Debian's 20.10 daemon by falling back to API 1.41; the
# docker.io package ships its own CLI too. Use the first that answers.
answers() {
  local cli
  for cli in docker /usr/bin/docker; do
    command -v "$cli" >/dev/null 2>&1 || continue
    timeout 10 "$cli" info >/dev/null 2>&1 && return 0
  done
  return 1
}

# Without procps (pgrep) on minimal systems: the kernel's own list of process names.
dockerd_running() { grep -qsx dockerd /proc/[0-9]*/comm; }

answers && exit 0

# DOCKER_HOST naming another daemon (remote, rootless) is the user's choice: never start ours.
case ${DOCKER_HOST:-unix:///var/run/docker.sock} in
  unix:///var/run/docker.sock | unix:///run/docker.sock) ;;
  *) fail "no Docker daemon answers at DOCKER_HOST=$DOCKER_HOST (not starting one for it)" ;;
esac
[ "$(id -u)" = 0 ] || fail "no Docker daemon answers and only root can start one (run as root)"

# Two callers at once (test.sh and demo.sh in two shells) must not start two daemons.
exec 9>/var/lock/conducto_nb-docker.lock
flock 9
answers && exit 0

if ! command -v dockerd >/dev/null 2>&1; then
  echo "docker.sh: installing Debian's docker.io" >&2
  export DEBIAN_FRONTEND=noninteractive
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends docker.io; } \
    >/tmp/conducto_nb-apt-docker.log 2>&1 ||
    fail "apt-get install docker.io failed: $(tail -n 1 /tmp/conducto_nb-apt-docker.log)"
  # Debian's package also brings iptables (the bridge network) and runc/containerd.
fi

# A dockerd may be starting already (launched by hand, or a moment ago): wait, do not start another.
if ! dockerd_running; then
  echo "docker.sh: starting dockerd (log: $LOG)" >&2
  # setsid + nohup: the daemon outlives this script and its caller's terminal or CI step.
  setsid nohup dockerd >"$LOG" 2>&1 </dev/null &
fi

for _ in $(seq $((WAIT * 10))); do
  answers && exit 0
  dockerd_running || break  # died: no point waiting out the timeout
  sleep 0.1
done
tail -n 5 "$LOG" 2>/dev/null | sed 's/^/  dockerd: /' >&2 || true
fail "dockerd did not answer within ${WAIT}s (log: $LOG)"
