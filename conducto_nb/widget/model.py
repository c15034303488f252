"""The live graph widget (anywidget): four synced traits and a few custom messages.

- `tree`: the tree in columnar form with every node's state letter and the `seq` of the last
  diff those states include; sent whole only when the widget opens, the tree changes (a Lazy
  graft, a run starting) or a browser asks (a page reload).
- `diff`: `{"seq": n, "s": {path: letter}}`, the states that changed since diff n-1.
- `header`: run id, times, whether it is live, the actions a panel offers.
- `images`: the pipeline's co.Images and their build states (images.py), whole when one changes.

Browser -> kernel: `watch` / `unwatch` a node (its panel opened or closed), `watch_image` /
`unwatch_image`, `act` (run, rerun, reset, skip, unskip, kill, debug) and `modify`. Kernel ->
browser: `detail` (a panel's content), `out` (output of watched nodes), `image` (an image
panel's content), `ilog` (build log of watched images), `acted` (an action's outcome).
Handlers may run on a kernel subshell thread while a cell is busy: they only take locks, call
`Run` methods and wake the pump, which alone sends.

A widget made for a tree follows every run started from that tree object (follow.py): its
source changes under `_source_lock`, which the pump's flush holds too.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

import anywidget
import traitlets

from ..errors import PipelineError
from ..model.nodes import Node
from .details import OutputStreams
from .display import Displays, bundle, forget, svg_of
from .encode import STATIC, Flat, encode, state_string
from .feed import Feed, pump
from .follow import follow_starts, forget_starts
from .images import encode_images, log_messages
from .run_sources import source_for
from .sources import Source

if TYPE_CHECKING:
    from ..run.runs import Run

__all__ = ["PipelineWidget"]


class PipelineWidget(anywidget.AnyWidget):
    """The live graph of a tree or a run."""

    # The bundle's text rather than its Path: anywidget ties every widget to a Path's watcher
    # with a lambda it never disconnects, so a closed widget and its tree would live for good.
    _esm = (STATIC / "graph.js").read_text(encoding="utf-8")
    tree = traitlets.Dict().tag(sync=True)
    diff = traitlets.Dict().tag(sync=True)
    header = traitlets.Dict().tag(sync=True)
    images: traitlets.List[dict[str, Any]] = traitlets.List().tag(sync=True)

    def __init__(self, subject: Node | Run) -> None:
        self._uid = uuid.uuid4().hex[:12]
        self._feed = Feed(self._wake)
        self._act_lock = threading.Lock()
        # Held to change the source and by a flush while it reads it: a run followed from
        # another cell (any thread) never interleaves with the pump's use of the old one.
        self._source_lock = threading.RLock()
        self._source: Source = source_for(subject)
        self._source.snapshot(self._feed)
        self._encoded: tuple[Flat, dict[str, Any]] | None = None
        self._rev = 0
        self._streams = OutputStreams()
        self._was_idle = self._source.idle
        self.displays = Displays()  # the outputs showing it, re-sent when the run ends
        self.subject: Node | Run = subject
        self.closed = False
        self._broadcasting = False  # set while flush() re-sends the tree to every view
        with self._feed.lock:
            images, self._feed.images_dirty = encode_images(self._feed.images.values()), False
        super().__init__(
            tree=self._tree_value(), diff={"seq": 0, "s": {}}, header=self._header(), images=images
        )
        self.on_msg(self._on_msg)
        pump().add(self)
        if isinstance(subject, Node):
            follow_starts(subject, self)

    # -- state ------------------------------------------------------------------------------
    def _tree_value(self) -> dict[str, Any]:
        """The tree trait as Python holds it; a new `rev` each time, so setting it sends."""
        self._rev += 1
        return {"rev": self._rev}

    def get_state(self, key: Any = None, drop_defaults: bool = False) -> dict[str, Any]:
        """Whatever asks for `tree` (the widget opening, a reloaded page) gets the current
        tree and states, consistent with each other and with `seq`."""
        state: dict[str, Any] = super().get_state(key, drop_defaults)
        if "tree" in state:
            feed = self._feed
            with feed.lock:
                flat, states, seq = feed.flat, state_string(feed.flat, feed.codes), feed.seq
                if self._broadcasting:
                    # Every view gets this tree: the changes it already holds must not come
                    # again in the next diff (a view would see states repeat).
                    feed.drop_changes()
            if self._encoded is None or self._encoded[0] is not flat:
                self._encoded = (flat, encode(flat))
            state["tree"] = {**state["tree"], **self._encoded[1], "states": states, "seq": seq}
        return state

    def _header(self) -> dict[str, Any]:
        return {"uid": self._uid, **self._source.header(self._feed)}

    # -- from the browser (a kernel thread, maybe a subshell's) -----------------------------
    def _on_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        kind, path = content.get("type"), str(content.get("path") or "/")
        if kind == "watch":
            self._feed.ask_watch(path)
        elif kind == "unwatch":
            self._feed.unwatch(path)
        elif kind == "watch_image":
            self._feed.ask_watch_image(str(content.get("key")))
        elif kind == "unwatch_image":
            self._feed.unwatch_image(str(content.get("key")))
        elif kind == "act":
            self.act(str(content.get("action")), path, content)
        elif kind == "modify":
            self.act("modify", path, content)
        elif kind == "timeline":
            with self._feed.lock:
                message = self._feed.timeline()
            self._feed.reply(message)

    def act(self, action: str, path: str, args: dict[str, Any] | None = None) -> None:
        """Carry out a panel's action; its outcome goes back to the browser."""
        reply: dict[str, Any] = {"type": "acted", "action": action, "path": path, "ok": True}
        try:
            with self._act_lock:  # two clicks must not both start a tree
                source = self._source
                handover = source.act(action, path, args or {})
                if source.note:  # the debug button's line to copy
                    reply["note"], source.note = source.note, None
                if handover is not None:
                    self._hand_over(handover, replacing=source)
        except PipelineError as e:
            reply.update(ok=False, error=str(e))
        except Exception as e:  # shown in the panel: a handler's print() reaches no cell
            reply.update(ok=False, error=f"{type(e).__name__}: {e}")
        self._feed.reply(reply)

    def follow(self, run: Run) -> None:
        """A run of the tree this widget began with started (its ▶ button, another cell, a
        script; follow.py calls this): show that run from now on."""
        with self._source_lock:
            if not self.closed and getattr(self._source, "run", None) is not run:
                self._hand_over(source_for(run))

    def _hand_over(self, new: Source, replacing: Source | None = None) -> None:
        """Show `new` instead of the current source (unless that is no longer `replacing`:
        a run started meanwhile wins over what the old source offered)."""
        with self._source_lock:
            if self.closed or (replacing is not None and self._source is not replacing):
                new.close()
                return
            old = self._source
            old.close()  # first: an old run's late events must not reach the new states
            new.snapshot(self._feed)  # a full state asked for from now on is the new source's
            self._source = new
            run = getattr(new, "run", None)
            if run is not None:
                self.subject = run
            with self._feed.lock:
                self._feed.stale.update(self._feed.watching)  # open panels: new actions, states
                self._feed.stale_images.update(self._feed.watching_images)  # a log of its own
            self.displays.outdated(shown_only=True)  # they show another picture now
        self._feed.mark_tree_dirty()

    def _wake(self) -> None:
        pump().wake(self)

    def refresh_tree(self) -> None:
        """Shown again before it ran: the tree may have changed since."""
        if self._source.kind == "node":
            self._source.snapshot(self._feed)
            self._feed.mark_tree_dirty()

    # -- to the browser (the pump thread) ---------------------------------------------------
    def _set_traits(
        self,
        rebuild: bool,
        changed: dict[str, str],
        seq: int,
        header: dict[str, Any],
        images: list[dict[str, Any]] | None,
    ) -> None:
        """Set the traits that changed, sent together when the hold ends."""
        with self.hold_sync():
            if rebuild:
                self.tree = self._tree_value()
            if changed:
                self.diff = {"seq": seq, "s": changed}
            if {**header, "now": 0} != {**self.header, "now": 0}:
                self.header = header
            if images is not None and images != self.images:
                self.images = images

    def flush(self) -> float | None:
        """Send what changed since the last flush; returns when to look again."""
        with self._source_lock:
            return self._flush()

    def _flush(self) -> float | None:
        if self.closed:
            return None
        feed = self._feed
        src = self._source
        handover = src.poll(feed)
        if handover is not None:
            self._hand_over(handover, replacing=src)
        src = self._source
        with feed.lock:
            rebuild, feed.tree_dirty = feed.tree_dirty, False
            asked, feed.to_watch = feed.to_watch, []
        if rebuild:
            src.snapshot(feed)
        with feed.lock:
            stale, feed.stale = feed.stale, set()
            asked_images, feed.to_watch_images = feed.to_watch_images, []
            stale_images, feed.stale_images = feed.stale_images, set()
        details = [src.detail(feed, p) for p in dict.fromkeys([*asked, *stale])]
        keys = dict.fromkeys([*asked_images, *stale_images])
        details += [src.image_detail(feed, k) for k in keys]
        with feed.lock:
            changed = feed.take_changes()
            chunks, feed.chunks = feed.chunks, []
            logs, feed.image_chunks = feed.image_chunks, []
            replies, feed.replies = feed.replies, []
            if changed:
                feed.seq += 1
            seq = feed.seq
            images = encode_images(feed.images.values()) if feed.images_dirty else None
            feed.images_dirty = False
        header = self._header()
        # hold_sync sends at the end of its block: the flag covers that moment.
        self._broadcasting = rebuild
        try:
            self._set_traits(rebuild, changed, seq, header, images)
        finally:
            self._broadcasting = False
        for message in details:
            if message["type"] == "detail":
                self._streams.restart(message)
        shown = getattr(src, "run", None)  # the run whose co.data a block's images are in
        outs = [*self._streams.messages(chunks, shown and shown.id), *log_messages(logs)]
        for message in [*replies, *details, *outs]:
            self.send(message)
        idle = src.idle
        if not idle and self._was_idle:
            self.displayed()  # running again: the pictures shown are stale once more
        self._was_idle = idle
        if idle:
            self.refresh_if_ended("pump")
        return src.next_look()

    def displayed(self) -> None:
        """A display went out (or the run went on again): while the run is live, what it
        shows will need the final picture."""
        if not self._source.idle:
            self.displays.outdated()

    def refresh_if_ended(self, by: str) -> None:
        """Re-send the displays with the final static SVG if the run ended since they were
        drawn, so a saved notebook shows the final states to viewers without a kernel; `by` the
        pump, or after a cell (the kernel's post_execute, on its main thread)."""
        if self._source.idle and self.displays.due(by):
            self.displays.update(bundle(self.subject, self))

    def svg(self) -> str | None:
        with self._feed.lock:
            flat, codes = self._feed.flat, dict(self._feed.codes)
            started, _, busy, since = self._feed.times()
        ran = None if started is None else busy + (time.time() - since if since else 0.0)
        return svg_of(self.subject, flat, codes, ran)

    def close(self) -> None:
        """Stop following; nothing (the follow registry, the display registry) keeps the
        closed widget, so it keeps no tree alive."""
        with self._source_lock:
            self.closed = True
            source = self._source
        pump().remove(self)
        forget_starts(self)
        forget(self)
        source.close()
        super().close()
