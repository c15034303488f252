"""Jobs die with the process that owns them.

A local job runs as a process group of its own (so a kill reaches all of it) and a Docker job
in a container that outlives the attach connection until its job ends; so nothing ended a job
when its owner died: a kernel killed with SIGKILL left `sleep 300` running, and a rerun from
another process ran the step a second time beside it. Each owner starts one small guard process
(in a session of its own, so it outlives a signal to the owner's group). It reads a pipe whose
write end only the owner holds (jobs do not inherit it); the owner tells it each process group
and container as it starts and as it ends. However the owner dies, the pipe closes, and the
guard removes the containers it still knows (through the daemon's socket) and ends the groups:
SIGTERM, then SIGKILL after the grace, and waits until they are gone.

The guard holds an flock on a file named after its owner (`lock_path`) from its start to its
exit, so a process adopting a dead owner's pipeline waits for that lock (`wait_for_guard`)
before starting any attempt: two attempts of one node never overlap.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from ..store.lease import boot_id

__all__ = [
    "GUARD_SCRIPT",
    "forget",
    "forget_container",
    "lock_path",
    "wait_for_guard",
    "watch",
    "watch_container",
]

# Standard library only; runs as `python -c SCRIPT GRACE`. Lines: "+P PGID", "-P PGID",
# "+C SOCKET CID", "-C SOCKET CID".
GUARD_SCRIPT = """
import http.client, os, select, signal, socket, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
groups, containers = set(), set()
left = b""
while True:
    data = os.read(0, 1 << 16)
    if not data:
        break
    *lines, left = (left + data).split(b"\\n")
    for line in lines:
        head, rest = line.decode().split(" ", 1)
        sign, kind = head[0], head[1]
        found = groups if kind == "P" else containers
        item = int(rest) if kind == "P" else tuple(rest.rsplit(" ", 1))  # a path: spaces
        (found.add if sign == "+" else found.discard)(item)
    # Lines gather meanwhile (a busy owner's writes wake no one), unless the owner is ending:
    # its end of the second pipe closes (at its exit, or its death) and this wakes at once.
    select.select([int(sys.argv[2])], [], [], 0.05)

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

def wait_gone(seconds):  # until no process is left in any group; True if none is
    deadline = time.monotonic() + seconds
    while True:
        left = set()
        for pgid in groups:
            try:
                os.killpg(pgid, 0)
                left.add(pgid)
            except OSError:
                pass
        groups.intersection_update(left)
        if not groups or time.monotonic() > deadline:
            return not groups
        time.sleep(0.02)

signal_groups(signal.SIGTERM)  # the owner is gone: so are its jobs
for path, cid in containers:
    try:
        c = UnixHTTP(path)
        c.request("DELETE", "/containers/%s?force=true" % cid)
        c.getresponse().read()
        c.close()
    except OSError:
        pass
if not wait_gone(float(sys.argv[1])):
    signal_groups(signal.SIGKILL)
    wait_gone(10)  # reaped by init in a moment; then the lock this process holds is released
"""

_lock = threading.Lock()
_guard: subprocess.Popen[bytes] | None = None
_ending = -1  # the write end of the pipe whose closing tells the guard this process ends
_alive: set[str] = set()  # what the guard would end now: told, not yet forgotten
_closed = False  # this process is exiting: its guard is ending everything, none starts again


def lock_path(owner_pid: int, boot: str | None = None) -> Path:
    """The file the guard of process `owner_pid` (of this boot) holds locked while it lives."""
    folder = Path(tempfile.gettempdir()) / f"conducto_nb-{os.getuid()}" / "guards"
    return folder / f"{(boot or boot_id())[:8]}-{owner_pid}.lock"


def wait_for_guard(owner_pid: int, timeout: float) -> bool:
    """Wait until the guard of the dead process `owner_pid` has ended every job it knew of:
    True once it has (or it never had any), False if `timeout` seconds pass first."""
    path = lock_path(owner_pid)
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return True  # that process never started a job
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.02)
                continue
            path.unlink(missing_ok=True)
            return True
    finally:
        os.close(fd)


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


def _note(line: str) -> None:
    """(Under `_lock`.) Keep `_alive` as the guard's sets will be once it reads `line`."""
    if line.startswith("+"):
        _alive.add(line[1:])
    elif line.startswith("-"):
        _alive.discard(line[1:])


def _tell(line: str, grace: float | None) -> None:
    """Write `line` to the guard: one write to its pipe, which wakes no one (the guard reads
    at most every 50 ms). A watch (`grace` given) starts the guard if none runs; if it died (a
    write finds its pipe closed), a watch starts another and tells it all that lives."""
    global _guard
    with _lock:
        if _closed:
            return
        _note(line)
        for _ in range(2):  # a guard found dead (killed by hand) is replaced once
            if _guard is None:
                if grace is None:
                    return  # no guard watches anything: nothing to forget
                _guard = _start_guard(grace)
                os.set_inheritable(_guard.stdin.fileno(), False)  # type: ignore[union-attr]
                line = "".join(f"+{item}" for item in _alive)
            assert _guard.stdin is not None
            try:
                _write_all(_guard.stdin.fileno(), line.encode())
                return
            except OSError:
                _guard = None


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data) :]


def _start_guard(grace: float) -> subprocess.Popen[bytes]:
    """The guard, holding the lock on `lock_path(this pid)` (the lock goes with its last
    holder: the guard's own exit)."""
    global _ending
    path = lock_path(os.getpid())
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    ending_r, ending_w = os.pipe()  # only this process holds the write end
    if _ending >= 0:
        os.close(_ending)  # a guard before this one died
    _ending = ending_w
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return subprocess.Popen(
            [sys.executable, "-c", GUARD_SCRIPT, str(grace), str(ending_r)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            cwd="/",
            pass_fds=[fd, ending_r],
        )
    finally:
        os.close(fd)  # the guard's copy holds the lock from here on
        os.close(ending_r)


@atexit.register
def _close() -> None:
    """This process ends: the guard ends what is left, and is waited for (no job outlives
    the script). With nothing left, it is not: it only exits (and init reaps it), so its
    lock file goes now, as no job of this process needs waiting for.

    Not under `_lock`: the loop thread reaps the jobs the guard ends and tells it so; made to
    wait for the lock meanwhile, it left the rest unreaped, zombies the guard took for alive
    until its grace ran out (every script with a callable took 12 s to exit)."""
    global _guard, _closed
    with _lock:
        guard, _guard, _closed = _guard, None, True
        left = bool(_alive)
    if guard is not None and guard.stdin is not None:
        with contextlib.suppress(OSError):
            guard.stdin.close()
        if _ending >= 0:
            os.close(_ending)  # the guard wakes at once, not at its next look
        if not left:
            lock_path(os.getpid()).unlink(missing_ok=True)
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            guard.wait(timeout=30)
            lock_path(os.getpid()).unlink(missing_ok=True)
