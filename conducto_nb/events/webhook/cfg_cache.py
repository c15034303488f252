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
        self._found: tuple[Config, str] | None = None
        self._stamp: Stamp | None = None

    def get(self) -> tuple[Config, str]:
        """The cfg and the branch it was read from (a ConfigError when it is broken)."""
        with self._lock:
            default = self._found[1] if self._found else "main"
            stamp = self._stamp_of(default)
            if self._found is None or stamp is None or stamp != self._stamp:
                self._found = load_config(self.root)
                self._stamp = stamp if self._found[1] == default else None
            return self._found

    def fresh(self) -> tuple[Config, str] | None:
        """What `get` would return if that needs no git (a few stats: fine on an event
        loop), else None."""
        found, stamp = self._found, self._stamp
        if found is None or stamp is None or self._stamp_of(found[1]) != stamp:
            return None
        return found

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
