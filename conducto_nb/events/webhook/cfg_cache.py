"""The default branch's `.conducto.cfg`, read again only when a ref it depends on moves.

Reading it costs three git processes; a receiver answering a burst of deliveries would spend
most of its time there (bench/webhook.py). Git replaces a ref file by renaming a new one over
it, so the (inode, mtime, size) of the ref files that decide the default branch and its commit
(packed refs too) change whenever the answer might: any change reads the cfg again.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from ..cfg import Config
from ..simulate import _git, load_config

__all__ = ["ConfigCache"]

Stamp = tuple[tuple[int, int, int] | None, ...]


class ConfigCache:
    """`get()` is `load_config(root)`, cached while the refs it read stay as they were."""

    def __init__(self, root: Path) -> None:
        self.root = root
        common = _git(root, "rev-parse", "--git-common-dir", check=False)
        self._git = (root / common) if common else None
        self._lock = threading.Lock()
        # what was read and the stamp it was read at, replaced as one value: `fresh` reads
        # it without the lock
        self._cached: tuple[tuple[Config, str], Stamp | None] | None = None

    def get(self) -> tuple[Config, str]:
        """The cfg and the branch it was read from (a ConfigError when it is broken)."""
        with self._lock:
            cached = self._cached
            default = cached[0][1] if cached else "main"
            stamp = self._stamp_of(default)
            if cached is None or stamp is None or stamp != cached[1]:
                found = load_config(self.root)
                cached = self._cached = (found, stamp if found[1] == default else None)
            return cached[0]

    def fresh(self) -> tuple[Config, str] | None:
        """What `get` would return if that needs no git (a few stats: fine on an event
        loop), else None."""
        cached = self._cached
        if cached is None or cached[1] is None or self._stamp_of(cached[0][1]) != cached[1]:
            return None
        return cached[0]

    def _stamp_of(self, default: str) -> Stamp | None:
        if self._git is None or not (self._git / "refs").is_dir():
            return None  # not a files backend (reftable): read every time
        name = default.removeprefix("origin/")
        paths = [
            "packed-refs",
            "refs/remotes/origin/HEAD",
            f"refs/heads/{name}",
            f"refs/remotes/origin/{name}",
            "refs/heads/main",
            "refs/heads/master",
            "HEAD",
        ]
        return tuple(_stat(self._git / p) for p in paths)


def _stat(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)
