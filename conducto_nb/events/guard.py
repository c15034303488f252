"""The `duplicate` policy of a `.conducto.cfg` section: what a second run of the same section
for the same branch / PR / tag does while the first is still going. SUPPRESS_NEW skips it,
ALLOW runs both, DEFER waits for the first, SLEEP_OLD stops the first (SIGTERM to its process
group) and runs the new one. One lock file per (section, target), in the folder simulate.py
gives (the repository's `.git/conducto_nb/events/`), holding the running command's pid.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import signal
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from .cfg import Section

__all__ = ["Guard"]


class Guard:
    """One lock file per (section, branch / PR / tag): says whether a run is still going."""

    def __init__(self, folder: Path, section: Section, values: Mapping[str, str]) -> None:
        target = (
            values["pr"] if section.event.startswith("pr") else values["tag"] or values["branch"]
        )
        self.key = f"{section.name} {target}"
        digest = hashlib.sha256(self.key.encode("utf-8", "surrogateescape")).hexdigest()[:20]
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{digest}.lock"
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        self._said = False  # DEFER's wait or SLEEP_OLD's stop is said (and done) once

    def acquire(self, policy: str, out: TextIO) -> bool:
        """False when a run is going and `policy` says not to start another."""
        while (go := self.attempt(policy, out)) is None:
            time.sleep(0.05)
        return go

    def attempt(self, policy: str, out: TextIO) -> bool | None:
        """One try at `acquire`: True (go), False (not at all) or None (wait, try again); so
        an event loop (the webhook receiver) can wait without blocking a thread."""
        if policy == "ALLOW":
            return True
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            pass
        if policy == "SUPPRESS_NEW":
            return False
        if policy == "DEFER" and not self._said:
            print(
                f"    waiting: a run of {self.key} is still going (duplicate = DEFER)",
                file=out,
                flush=True,
            )
        elif policy == "SLEEP_OLD" and not self._said:  # stop the older run, then go
            pid = os.pread(self.fd, 32, 0).decode().strip()
            if pid.isdigit():
                print(
                    f"    stopping the older run of {self.key} (duplicate = SLEEP_OLD)",
                    file=out,
                    flush=True,
                )
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(int(pid), signal.SIGTERM)
            else:
                return None  # its pid is not written yet: look again
        self._said = True
        return None

    def record(self, pid: int | None) -> None:
        os.ftruncate(self.fd, 0)
        if pid is not None:
            os.pwrite(self.fd, str(pid).encode(), 0)

    def close(self) -> None:
        os.close(self.fd)  # also releases the lock
