"""The sources of a run's graph: a run this process owns, followed through its events
(`LiveSource`), or a run another process owns (CLI, detached, another kernel), followed by
reading the store (`StoreSource`) until an action adopts it here and it hands over to a
`LiveSource`. Both offer the run's actions, and `debug` once the debug magic registered a
handler. `source_for` picks the source of a tree or a run.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import ActionError
from ..model.serialize import tree_from_json
from ..run.loop import background_loop
from ..run.runs import Run, record_from_store
from .details import detail
from .encode import Flat, code, flatten
from .feed import Feed
from .images import image_detail
from .sources import NodeSource, Source

if TYPE_CHECKING:
    from ..model.nodes import Node
    from ..run.record import Record

__all__ = ["DEBUG_HANDLERS", "LiveSource", "StoreSource", "source_for"]

RUN_ACTIONS = ["run", "rerun", "reset", "skip", "unskip", "kill", "modify"]
#: The debug magic registers `handler(run, path)` here; the panel then shows a debug button
#: and what the handler returns (the line that enters the session).
DEBUG_HANDLERS: list[Callable[[Run, str], str | None]] = []


def source_for(obj: Node | Run) -> Source:
    if isinstance(obj, Run):
        return LiveSource(obj) if obj._execution is not None else StoreSource(obj)
    return NodeSource(obj)


class _RunSource(Source):
    def __init__(self, run: Run) -> None:
        self.run = run

    def actions(self) -> list[str]:
        return RUN_ACTIONS + (["debug"] if DEBUG_HANDLERS else [])

    def act(self, action: str, path: str, args: dict[str, Any]) -> Source | None:
        run = self.run
        if action == "modify":
            command = args.get("command") or None
            run.modify(path, command=command, env=_env(args.get("env")))
        elif action == "debug" and DEBUG_HANDLERS:
            self.note = DEBUG_HANDLERS[-1](run, path)
        elif action in RUN_ACTIONS:
            getattr(run, action)(path)
        else:
            raise ActionError(f"unknown action `{action}`")
        return None


class LiveSource(_RunSource):
    """A run this process owns: its events come to the feed on the loop thread."""

    kind = "run"

    def __init__(self, run: Run) -> None:
        super().__init__(run)
        self._stop: Callable[[], None] | None = None

    @property
    def idle(self) -> bool:
        return self.run.record.idle

    def snapshot(self, feed: Feed) -> None:
        """Read tree and states and attach the observer in one step of the loop: no event
        falls between them."""
        ex = self.run._execution
        assert ex is not None

        def grab() -> None:
            flat = flatten(ex.scheduler.root)
            feed.install(flat, {p: code(s) for p, s in ex.record.statuses().items()})
            feed.install_images(ex.record.images())
            if self._stop is None:
                self._stop = self.run.observe(feed)
                _install_times(feed, ex.record, flat)

        background_loop().call(grab)

    def detail(self, feed: Feed, path: str) -> dict[str, Any]:
        ex = self.run._execution
        assert ex is not None

        def grab() -> dict[str, Any]:
            feed.restart_stream(path)
            with feed.lock:
                letter, images = feed.codes.get(path, "p"), list(feed.images.values())
            root = ex.scheduler.root
            return detail(root, path, ex.record, letter, self.actions(), images=images)

        return background_loop().call(grab)

    def image_detail(self, feed: Feed, key: str) -> dict[str, Any]:
        """Read in one step of the loop: no log line falls between the text and the stream."""
        ex = self.run._execution
        assert ex is not None

        def grab() -> dict[str, Any]:
            feed.restart_image_log(key)
            with feed.lock:
                status = feed.images.get(key)
            return image_detail(key, status, ex.record.image_log(key))

        return background_loop().call(grab)

    def next_look(self) -> float | None:
        return None if self.idle else 0.5  # the step that ends a run publishes before idling

    def close(self) -> None:
        if self._stop is not None:
            self._stop()
            self._stop = None


class StoreSource(_RunSource):
    """A run owned elsewhere: the store is read again every half second while it runs."""

    kind = "store"

    def __init__(self, run: Run) -> None:
        super().__init__(run)
        self.record = run.record
        self._tree: tuple[object, Node] | None = None
        self._sent: dict[tuple[str, str], int] = {}  # output characters sent per stream
        self._sent_logs: dict[str, str] = {}  # the build log sent so far, per watched image

    @property
    def idle(self) -> bool:
        return self.record.idle

    def tree(self) -> Node:
        if self._tree is None or self._tree[0] is not self.record.tree:
            self._tree = (self.record.tree, tree_from_json(self.record.tree))
        return self._tree[1]

    def snapshot(self, feed: Feed) -> None:
        flat = flatten(self.tree())
        feed.install(flat, {p: code(s) for p, s in self.record.statuses().items()})
        feed.install_images(self.record.images())
        _install_times(feed, self.record, flat)

    def detail(self, feed: Feed, path: str) -> dict[str, Any]:
        output = {s: self.record.output(path, s) for s in ("stdout", "stderr")}
        feed.restart_stream(path)
        for stream, text in output.items():
            self._sent[path, stream] = len(text)
        with feed.lock:
            letter, images = feed.codes.get(path, "p"), list(feed.images.values())
        actions = self.actions()
        return detail(self.tree(), path, self.record, letter, actions, output, images=images)

    def image_detail(self, feed: Feed, key: str) -> dict[str, Any]:
        log = self.record.image_log(key)
        feed.restart_image_log(key)
        self._sent_logs[key] = log
        with feed.lock:
            status = feed.images.get(key)
        return image_detail(key, status, log)

    def poll(self, feed: Feed) -> Source | None:
        if self.run._execution is not None:  # adopted here (an action found its owner dead)
            return LiveSource(self.run)
        old, self.record = self.record, record_from_store(self.run.id)
        if self.record.tree != old.tree:
            feed.mark_tree_dirty()
        feed.update({p: code(s) for p, s in self.record.statuses().items()})
        with feed.lock:
            watched = list(feed.watching)
        for path in watched:
            if self.record.attempts(path) != old.attempts(path) or len(
                self.record.callbacks(path)
            ) != len(old.callbacks(path)):
                with feed.lock:
                    feed.stale.add(path)  # a new detail carries the new attempt's output
                continue
            attempts = self.record.attempts(path)
            for stream in ("stdout", "stderr"):
                text = self.record.output(path, stream)
                sent = self._sent.get((path, stream), len(text))
                if len(text) > sent and attempts:
                    with feed.lock:
                        feed.chunks.append((path, attempts[-1].attempt, stream, text[sent:]))
                self._sent[path, stream] = len(text)
        self._poll_images(feed)
        _install_times(feed, self.record, feed.flat)
        return None

    def _poll_images(self, feed: Feed) -> None:
        """Image states, and the build log appended since for open image panels."""
        feed.install_images(self.record.images())
        with feed.lock:
            watched = list(feed.watching_images)
        for key in watched:
            log, sent = self.record.image_log(key), self._sent_logs.get(key)
            if sent is None or log == sent:
                continue
            with feed.lock:
                if log.startswith(sent):
                    feed.image_chunks.append((key, log[len(sent) :]))
                else:  # its start was cut off (the store keeps the last MB): send it afresh
                    feed.stale_images.add(key)
            self._sent_logs[key] = log

    def act(self, action: str, path: str, args: dict[str, Any]) -> Source | None:
        super().act(action, path, args)
        return LiveSource(self.run) if self.run._execution is not None else None

    def next_look(self) -> float | None:
        return 10.0 if self.idle else 0.5  # idle: someone may still rerun it from elsewhere


def _install_times(feed: Feed, record: Record, flat: Flat) -> None:
    spans = {
        (path, a.attempt): (a.queued, a.started, a.ended, a.state)
        for path, kind in zip(flat.paths, flat.kinds, strict=True)
        if kind == "E"
        for a in record.attempts(path)
        if a.started is not None
    }
    with feed.lock:
        feed.install_spans(spans)


def _env(value: Any) -> dict[str, Any] | None:
    """The modify form's env: a JSON object, or blank for no change."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as e:
            raise ActionError(f"env must be a JSON object: {e}") from None
    if not isinstance(value, dict):
        raise ActionError('env must be a JSON object, e.g. {"NAME": "value"}')
    return value
