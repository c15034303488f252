"""Between a running pipeline and its widgets. The observer (`Feed.__call__`) runs on the
scheduler's loop thread, inside its step: it only updates dicts under a lock and wakes the
pump. The pump, one daemon thread for all widgets, turns what piled up into trait updates and
messages, at most every INTERVAL seconds per widget: a burst of events costs one message.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from ..model.states import (
    AttemptEnded,
    AttemptStarted,
    CallbackFired,
    ImageChanged,
    ImageLog,
    OutputChunk,
    StateChanged,
    TreeChanged,
)
from .encode import Flat, busy_time, code

#: An attempt as the feed keeps it: (queued, started, ended, state).
Span = tuple[float | None, float, float | None, str | None]

__all__ = ["INTERVAL", "Feed", "Pump", "pump"]

INTERVAL = 0.15  # seconds between two flushes of one widget
GATHER = 0.02  # a first change waits this long for the rest of its burst
log = logging.getLogger("conducto_nb.widget")
log.addHandler(logging.NullHandler())  # the pump thread must never print into a cell


class Feed:
    """What a widget shows and what changed since its last flush; every field under `lock`."""

    def __init__(self, wake: Callable[[], None]) -> None:
        self.lock = threading.Lock()
        self.wake = wake
        self.flat = Flat("/", [], [], "", [], [], {})
        self.codes: dict[str, str] = {}  # path -> state letter, the truth
        self.changed: dict[str, str] = {}  # since the last flush: the diff to send
        self.shown: dict[str, str | None] = {}  # for those paths: the letter the views hold
        self.seq = 0  # diffs sent so far; a full state carries the seq it includes
        self.tree_dirty = False
        self.watching: Counter[str] = Counter()  # paths whose panel is open, per view
        self.to_watch: list[str] = []  # panels opened, not yet answered
        self.chunks: list[tuple[str, int, str, str]] = []  # output of watched paths
        self.stale: set[str] = set()  # watched paths whose details changed
        self.replies: list[dict[str, Any]] = []
        # Every attempt's (queued, started, ended, state): the header's time and the timeline.
        self.spans: dict[tuple[str, int], Span] = {}
        self._times: tuple[float | None, float | None, float, float | None] | None = None
        # The pipeline's co.Images, by key in order of first use; the trait is re-sent whole.
        self.images: dict[str, ImageChanged] = {}
        self.images_dirty = False
        self.watching_images: Counter[str] = Counter()  # image panels open, per view
        self.to_watch_images: list[str] = []
        self.image_chunks: list[tuple[str, str]] = []  # build log of watched images
        self.stale_images: set[str] = set()  # watched images whose panel content changed

    def __call__(self, event: object) -> None:
        """The observer: on the loop thread, so record and return."""
        with self.lock:
            if isinstance(event, StateChanged):
                self._set_code(event.path, code(event.new))
            elif isinstance(event, OutputChunk):
                if event.path in self.watching:
                    self.chunks.append((event.path, event.attempt, event.stream, event.text))
            elif isinstance(event, AttemptStarted):
                self.spans[(event.path, event.attempt)] = (event.queued, event.started, None, None)
                self._times = None
                if event.path in self.watching:
                    self.stale.add(event.path)
            elif isinstance(event, AttemptEnded):
                key = (event.path, event.attempt)
                if key in self.spans:  # (one killed while queued never started)
                    queued, started, _, _ = self.spans[key]
                    self.spans[key] = (queued, started, event.ended, event.state)
                    self._times = None
                if event.path in self.watching:
                    self.stale.add(event.path)
            elif isinstance(event, TreeChanged):
                self.tree_dirty = True
            elif isinstance(event, CallbackFired):
                if event.path in self.watching:
                    self.stale.add(event.path)  # its panel lists the callbacks
            elif isinstance(event, ImageChanged):
                self._set_image(event)
            elif isinstance(event, ImageLog):
                if event.key in self.watching_images:
                    self.image_chunks.append((event.key, event.text))
            else:
                return
        self.wake()

    def times(self) -> tuple[float | None, float | None, float, float | None]:
        """(Under the lock.) The first attempt's start, the last one's end, and how long
        something ran (`busy_time`: finished seconds, and since when it runs now)."""
        if self._times is None:  # each flush asks; only an attempt's start or end changes it
            spans = [(s, e) for _, s, e, _ in self.spans.values()]
            started = min((s for s, _ in spans), default=None)
            ended = max((e for _, e in spans if e is not None), default=None)
            self._times = (started, ended, *busy_time(spans))
        return self._times

    def install_spans(self, spans: dict[tuple[str, int], Span]) -> None:
        """(Under the lock.) Attempts' times as read afresh (a snapshot, the store)."""
        self.spans, self._times = spans, None

    def timeline(self) -> dict[str, Any]:
        """(Under the lock.) The `timeline` message: every attempt in the order of the tree,
        [path, attempt, queued, started, ended, state]; what runs has no end nor state."""
        order = {p: i for i, p in enumerate(self.flat.paths)}
        rows = sorted(self.spans.items(), key=lambda kv: (order.get(kv[0][0], -1), kv[0][1]))
        return {
            "type": "timeline",
            "rows": [[path, attempt, *span] for (path, attempt), span in rows],
            "now": time.time(),
        }

    def _set_image(self, status: ImageChanged) -> None:
        """(Under the lock.) The chip follows; an open panel lists the nodes anew."""
        old = self.images.get(status.key)
        if old == status:
            return
        self.images[status.key] = status
        self.images_dirty = True
        if status.key in self.watching_images and (old is None or old.nodes != status.nodes):
            self.stale_images.add(status.key)

    def install_images(self, images: list[ImageChanged]) -> None:
        """The images as read afresh (a snapshot, the store): what differs is sent."""
        with self.lock:
            for status in images:
                self._set_image(status)
            gone = self.images.keys() - {i.key for i in images}
            for key in gone:
                del self.images[key]
                if key in self.watching_images:
                    self.stale_images.add(key)  # its open panel says it is gone
            self.images_dirty |= bool(gone)

    def install(self, flat: Flat, codes: Mapping[str, str]) -> None:
        """A new snapshot: the next full state carries it, so pending diffs are moot."""
        with self.lock:
            self.flat, self.codes = flat, dict(codes)
            self.drop_changes()

    def update(self, codes: Mapping[str, str]) -> None:
        """Statuses read afresh (from the store): keep what differs as the diff."""
        with self.lock:
            for path, letter in codes.items():
                self._set_code(path, letter)

    def _set_code(self, path: str, letter: str) -> None:
        """(Under the lock.)"""
        old = self.codes.get(path)
        if old != letter:
            self.shown.setdefault(path, old)
            self.codes[path] = self.changed[path] = letter

    def take_changes(self) -> dict[str, str]:
        """(Under the lock.) The net changes since the last flush, for the next diff: a state
        that came back within one interval to what the views hold is not among them."""
        net = {p: s for p, s in self.changed.items() if self.shown.get(p) != s}
        self.drop_changes()
        return net

    def drop_changes(self) -> None:
        """(Under the lock.) A full state goes out: what changed is in it."""
        self.changed.clear()
        self.shown.clear()

    def restart_stream(self, path: str) -> None:
        """Drop the output kept for `path`: called in the same step as its details are read
        (which carry the output so far), so nothing is lost or sent twice."""
        with self.lock:
            self.chunks = [c for c in self.chunks if c[0] != path]
            self.stale.discard(path)

    def unwatch(self, path: str) -> None:
        with self.lock:
            self.watching[path] -= 1
            if self.watching[path] <= 0:
                del self.watching[path]
                self.chunks = [c for c in self.chunks if c[0] != path]

    def ask_watch(self, path: str) -> None:
        """A panel opened: keep `path`'s output from now on, and send its details."""
        with self.lock:
            self.watching[path] += 1
            self.to_watch.append(path)
        self.wake()

    def ask_watch_image(self, key: str) -> None:
        """An image's panel opened: keep its build log from now on, and send its details."""
        with self.lock:
            self.watching_images[key] += 1
            self.to_watch_images.append(key)
        self.wake()

    def unwatch_image(self, key: str) -> None:
        with self.lock:
            self.watching_images[key] -= 1
            if self.watching_images[key] <= 0:
                del self.watching_images[key]
                self.image_chunks = [c for c in self.image_chunks if c[0] != key]

    def restart_image_log(self, key: str) -> None:
        """Drop the log kept for `key`, in the same step as the log so far is read."""
        with self.lock:
            self.image_chunks = [c for c in self.image_chunks if c[0] != key]
            self.stale_images.discard(key)

    def reply(self, message: dict[str, Any]) -> None:
        with self.lock:
            self.replies.append(message)
        self.wake()

    def mark_tree_dirty(self) -> None:
        with self.lock:
            self.tree_dirty = True
        self.wake()


class Flushable(Protocol):
    def flush(self) -> float | None:
        """Send what changed; return seconds until it wants another look, or None."""


class Pump:
    """One daemon thread flushing every widget: soon after a change (GATHER), then at most
    every INTERVAL, and when a widget asked for another look (polling, watching for the end)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._widgets: dict[int, Flushable] = {}
        self._dirty: set[int] = set()
        self._next: dict[int, float] = {}  # earliest next flush of a widget
        self._timers: dict[int, float] = {}  # a look a widget asked for
        self._thread: threading.Thread | None = None

    def add(self, widget: Flushable) -> None:
        with self._cond:
            self._widgets[id(widget)] = widget
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="conducto_nb-widget-pump", daemon=True
                )
                self._thread.start()
        self.wake(widget)

    def remove(self, widget: Flushable) -> None:
        with self._cond:
            key = id(widget)
            self._widgets.pop(key, None)
            self._dirty.discard(key)
            self._next.pop(key, None)
            self._timers.pop(key, None)

    def wake(self, widget: Flushable) -> None:
        with self._cond:
            key = id(widget)
            if key in self._widgets and key not in self._dirty:
                self._dirty.add(key)
                self._next[key] = max(self._next.get(key, 0.0), time.monotonic() + GATHER)
                self._cond.notify()

    def _ready(self) -> list[Flushable]:
        """Wait for widgets due a flush (called with the condition held)."""
        while True:
            now = time.monotonic()
            for key, when in list(self._timers.items()):
                if when <= now:
                    del self._timers[key]
                    self._dirty.add(key)
            ready = [k for k in self._dirty if self._next.get(k, 0.0) <= now]
            if ready:
                for key in ready:
                    self._dirty.discard(key)
                    self._next[key] = now + INTERVAL
                return [self._widgets[k] for k in ready if k in self._widgets]
            waits = [self._next.get(k, 0.0) for k in self._dirty]
            waits += self._timers.values()
            self._cond.wait(max(0.0, min(waits) - now) if waits else None)

    def _run(self) -> None:
        while True:
            with self._cond:
                ready = self._ready()
            while ready:  # emptied as it goes: no local keeps a widget alive while we wait
                self._flush(ready.pop(0))

    def _flush(self, widget: Flushable) -> None:
        again = None
        try:
            again = widget.flush()
        except Exception:  # a widget's bug must not stop the others' updates
            log.exception("conducto_nb widget flush failed")
        with self._cond:
            key = id(widget)
            # The interval counts from when this flush finished sending: a flush slowed
            # by a busy machine must not be followed at once by the next.
            if key not in self._widgets:
                return
            self._next[key] = max(self._next.get(key, 0.0), time.monotonic() + INTERVAL)
            if again is not None:
                when = time.monotonic() + again
                self._timers[key] = min(self._timers.get(key, when), when)


_pump: Pump | None = None
_pump_lock = threading.Lock()


def pump() -> Pump:
    global _pump
    with _pump_lock:
        if _pump is None:
            _pump = Pump()
        return _pump
