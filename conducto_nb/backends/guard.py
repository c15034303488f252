"""Jobs die with the process that owns them.

A local job runs as a process group of its own (so a kill reaches all of it) and a Docker job
in a container that outlives the attach connection until its job ends; so nothing ended a job
when its owner died: a kernel killed with SIGKILL left `sleep 300` running, and a rerun from
another process ran the step a second time beside it. Each owner starts one small guard process
(in a session of its own, so it outlives a signal to the owner's group). It reads a pipe whose
write end only the owner holds (jobs do not inherit it); the owner tells it each process group
and container as it starts and as it ends. However the owner dies, the pipe closes, and the
guard removes the containers it still knows (through the daemon's socket) and ends the groups:
SIGTERM, then SIGKILL after the grace.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import subprocess
import sys
import threading

__all__ = ["GUARD_SCRIPT", "forget", "forget_container", "watch", "watch_container"]

# Standard library only; runs as `python -c SCRIPT GRACE`. Lines: "+P PGID", "-P PGID",
# "+C SOCKET CID", "-C SOCKET CID".
GUARD_SCRIPT = """
import http.client, os, signal, socket, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
groups, containers = set(), set()
for line in sys.stdin:
    head, rest = line.strip().split(" ", 1)
    sign, kind = head[0], head[1]
    found = groups if kind == "P" else containers
    item = int(rest) if kind == "P" else tuple(rest.rsplit(" ", 1))  # a path may hold spaces
    (found.add if sign == "+" else found.discard)(item)

def signal_groups(sig):
    for pgid in groups:
        try:
            os.killpg(pgid, sig)
        except OSError:
            pass

class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=20)
        self.unix_path = path
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(self.unix_path)

signal_groups(signal.SIGTERM)  # the owner is gone: so are its jobs
for path, cid in containers:
    try:
        c = UnixHTTP(path)
        c.request("DELETE", "/containers/%s?force=true" % cid)
        c.getresponse().read()
        c.close()
    except OSError:
        pass
if groups:
    time.sleep(float(sys.argv[1]))
    signal_groups(signal.SIGKILL)
"""

_lock = threading.Lock()
_guard: subprocess.Popen[bytes] | None = None


def watch(pgid: int, grace: float) -> None:
    """From now on the process group `pgid` ends when this process does."""
    _tell(f"+P {pgid}\n", grace)


def forget(pgid: int) -> None:
    """The group `pgid` ended: its id may be someone else's soon."""
    _tell(f"-P {pgid}\n", None)


def watch_container(socket_path: str, cid: str, grace: float) -> None:
    """From now on container `cid` (of the daemon at `socket_path`) goes when this process
    does."""
    _tell(f"+C {socket_path} {cid}\n", grace)


def forget_container(socket_path: str, cid: str) -> None:
    _tell(f"-C {socket_path} {cid}\n", None)


def _tell(line: str, grace: float | None) -> None:
    global _guard
    with _lock:
        if _guard is None or _guard.poll() is not None:
            if grace is None:
                return  # no guard watches anything: nothing to forget
            _guard = subprocess.Popen(
                [sys.executable, "-c", GUARD_SCRIPT, str(grace)],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                cwd="/",
            )
            os.set_inheritable(_guard.stdin.fileno(), False)  # type: ignore[union-attr]
        assert _guard.stdin is not None
        with contextlib.suppress(OSError):  # a guard killed by hand: the next watch starts one
            _guard.stdin.write(line.encode())
            _guard.stdin.flush()


@atexit.register
def _close() -> None:
    """This process ends: the guard ends what is left, and is waited for (no zombie)."""
    with _lock:
        if _guard is not None and _guard.stdin is not None:
            with contextlib.suppress(OSError):
                _guard.stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                _guard.wait(timeout=30)
