"""Graphs of a tree follow the runs started from it. A widget made for a Node (`root` as a
cell's last expression) registers here; `root.start()` in any cell, `root.run()`, a `co.main`
script or the widget's own ▶ button then hands every such widget over to the new run
(`start(detach=True)` too: the widget reads the store then). run/launch.py knows nothing of widgets:
it calls its ON_START hooks, and importing this module registers one.

Only weak references: a closed widget is never called, and neither a closed or collected widget
nor this registry keeps a tree alive.
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import TYPE_CHECKING, Protocol

from ..run.launch import ON_START

if TYPE_CHECKING:
    from ..model.nodes import Node
    from ..run.runs import Run

__all__ = ["Follower", "follow_starts", "followers", "forget_starts"]

log = logging.getLogger("conducto_nb.widget")


class Follower(Protocol):
    closed: bool

    def follow(self, run: Run) -> None:
        """Show `run`, a run just started from the tree this follower began with."""


_LOCK = threading.Lock()
_FOLLOWERS: weakref.WeakKeyDictionary[Node, weakref.WeakSet[Follower]]
_FOLLOWERS = weakref.WeakKeyDictionary()


def follow_starts(node: Node, follower: Follower) -> None:
    """From now on, `follower` shows each run started from this very `node` object."""
    with _LOCK:
        _FOLLOWERS.setdefault(node, weakref.WeakSet()).add(follower)


def forget_starts(follower: Follower) -> None:
    """`follower` closed: drop it at once rather than when it is collected."""
    with _LOCK:
        for group in _FOLLOWERS.values():
            group.discard(follower)


def followers(node: Node) -> list[Follower]:
    """The open followers of `node`."""
    with _LOCK:
        return [f for f in _FOLLOWERS.get(node, ()) if not f.closed]


def _started(root: Node, run: Run) -> None:
    """launch.start's hook, on the thread that started the run: never raises, so the caller
    always gets its Run (a widget's failure goes to the widget log, like the pump's)."""
    for follower in followers(root):
        try:
            follower.follow(run)
        except Exception:
            log.exception("conducto_nb widget could not follow run %s", run.id)


if _started not in ON_START:
    ON_START.append(_started)
