"""Local jobs die with the process that owns them.

Each job runs as a process group of its own, so that a kill reaches all of it; which also means
that nothing ends it when its owner dies: a kernel killed with SIGKILL left `sleep 300` running
under init, and a rerun from another process ran the step a second time beside it. So each
owner starts one small guard process (in a session of its own, so it outlives a signal to the
owner's group). It reads a pipe whose write end only the owner holds (not inherited by jobs);
the owner tells it each group as it starts and as it ends. However the owner dies, the pipe
closes and the guard ends every group it still knows: SIGTERM, then SIGKILL after the grace.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import subprocess
import sys
import threading

__all__ = ["GUARD_SCRIPT", "forget", "watch"]

# Standard library only; runs as `python -c`. Lines are "+PGID" (watch) or "-PGID" (forget).
GUARD_SCRIPT = """
import os, signal, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
groups = set()
for line in sys.stdin:
    sign, pgid = line[:1], int(line[1:])
    (groups.add if sign == "+" else groups.discard)(pgid)
for sig in (signal.SIGTERM, signal.SIGKILL):  # the owner is gone: so are its jobs
    for pgid in groups:
        try:
            os.killpg(pgid, sig)
        except OSError:
            pass
    if sig == signal.SIGTERM and groups:
        time.sleep(float(sys.argv[1]))
"""

_lock = threading.Lock()
_guard: subprocess.Popen[bytes] | None = None


def watch(pgid: int, grace: float) -> None:
    """From now on the group `pgid` ends when this process does."""
    _tell(f"+{pgid}\n", grace)


def forget(pgid: int) -> None:
    """The group `pgid` ended: its id may be someone else's soon."""
    _tell(f"-{pgid}\n", None)


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
                _guard.wait(timeout=10)
