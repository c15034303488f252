"""Where a widget's graph comes from, behind one small interface (`Source`): a tree not run
yet (`NodeSource`), or a run, followed live or through the store (run_sources.py, whose
`source_for` picks one). A source can hand over to another: a tree that starts, a stored run
adopted.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ..errors import ActionError
from .details import detail
from .encode import flatten
from .feed import Feed
from .images import image_detail, tree_images

if TYPE_CHECKING:
    from ..model.nodes import Node

__all__ = ["NodeSource", "Source"]


class Source:
    kind = ""
    #: What the last action has to tell the panel (the debug button's `docker exec` line).
    note: str | None = None

    @property
    def idle(self) -> bool:
        """Nothing runs and nothing waits to start."""
        return True

    def snapshot(self, feed: Feed) -> None:
        """Install the current tree and states in `feed` (and start following them)."""
        raise NotImplementedError

    def detail(self, feed: Feed, path: str) -> dict[str, Any]:
        """A panel's details for `path`; streaming its output from then on."""
        raise NotImplementedError

    def header(self, feed: Feed) -> dict[str, Any]:
        """The `header` trait but the widget's uid: what it shows, since and until when, and
        the actions a panel offers."""
        with feed.lock:
            started, last_end, busy, since = feed.times()
        run = getattr(self, "run", None)
        idle = self.idle
        return {
            "kind": self.kind,
            "id": run.id if run is not None else None,
            "started": started,
            "ended": last_end if idle else None,
            "busy": busy,  # what ran, not the waits between (a rerun much later)
            "since": None if idle else since,
            "live": not idle,
            "actions": self.actions(),
            "now": time.time(),  # the kernel's clock, so the browser can tick elapsed time
        }

    def image_detail(self, feed: Feed, key: str) -> dict[str, Any]:
        """An image panel's details; streaming its build log from then on."""
        feed.restart_image_log(key)
        with feed.lock:
            status = feed.images.get(key)
        return image_detail(key, status, "")

    def poll(self, feed: Feed) -> Source | None:
        """Look for changes no event reports; may return the source to hand over to."""
        return None

    def act(self, action: str, path: str, args: dict[str, Any]) -> Source | None:
        raise ActionError("this graph has not run: use its ▶ run button, or `.start()`")

    def actions(self) -> list[str]:
        return []

    def next_look(self) -> float | None:
        """Seconds until `poll` should run again (None: events will say)."""
        return None

    def close(self) -> None:
        """Stop following."""


class NodeSource(Source):
    kind = "node"

    def __init__(self, node: Node) -> None:
        self.node = node

    def snapshot(self, feed: Feed) -> None:
        skipped = {n.path: "P" for n in self.node.walk() if n.own_params.get("skip")}
        feed.install(flatten(self.node), skipped)
        feed.install_images(tree_images(self.node))

    def detail(self, feed: Feed, path: str) -> dict[str, Any]:
        with feed.lock:
            letter, images = feed.codes.get(path, "p"), list(feed.images.values())
        actions = ["run"] if path == self.node.path else []
        return detail(self.node, path, None, letter, actions, images=images)

    def actions(self) -> list[str]:
        return ["run"]

    def act(self, action: str, path: str, args: dict[str, Any]) -> Source | None:
        if action != "run":
            return super().act(action, path, args)
        self.node.start()  # its on-start hook hands this widget over, as any start would
        return None
