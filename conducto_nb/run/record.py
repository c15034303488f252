"""What a pipeline run looks like right now (statuses, attempts, output), readable from any
thread. A live run fills it from the background loop as an observer; a loaded run fills it
from the store. `Run` and `NodeResult` read only this.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..model.states import (
    IMAGE_LOG_CAP,
    AttemptEnded,
    AttemptStarted,
    CallbackFired,
    ImageChanged,
    ImageLog,
    NodeStatus,
    OutputChunk,
    State,
    StateChanged,
    TreeChanged,
)

__all__ = ["Attempt", "CappedText", "Record"]

OUTPUT_CAP = 10 * 2**20  # characters kept per attempt and stream, the last ones


@dataclass
class Attempt:
    """One attempt of an Exec: `state` is None while it runs."""

    path: str
    attempt: int
    started: float | None = None
    ended: float | None = None
    state: str | None = None
    exit_code: int | None = None
    message: str | None = None
    result: str | None = None  # a callable's return value, as its repr
    queued: float | None = None  # when the scheduler said to start it

    @property
    def duration(self) -> float | None:
        return None if self.started is None or self.ended is None else self.ended - self.started


class CappedText:
    """Text that keeps only its last `cap` characters, and says how many it dropped."""

    def __init__(self, cap: int = OUTPUT_CAP) -> None:
        self.cap, self.size, self.dropped = cap, 0, 0
        self.chunks: deque[str] = deque()

    def append(self, text: str) -> None:
        self.chunks.append(text)
        self.size += len(text)
        while self.size > self.cap:
            over = self.size - self.cap
            first = self.chunks[0]
            if len(first) <= over:
                self.chunks.popleft()
                cut = len(first)
            else:
                self.chunks[0] = first[over:]
                cut = over
            self.size -= cut
            self.dropped += cut

    def tail(self, n: int) -> str:
        """About the last `n` characters (whole chunks), without joining the rest."""
        picked: list[str] = []
        size = 0
        for chunk in reversed(self.chunks):
            if size >= n:
                break
            picked.append(chunk)
            size += len(chunk)
        return "".join(reversed(picked))[-n:]

    def __str__(self) -> str:
        text = "".join(self.chunks)
        return f"[... {self.dropped} characters dropped ...]\n{text}" if self.dropped else text


class Record:
    def __init__(
        self, pipeline_id: str, tree: Mapping[str, Any], statuses: Mapping[str, NodeStatus]
    ) -> None:
        self.id = pipeline_id
        self.tree = tree
        self.backend = ""  # set for runs loaded from the store
        self._lock = threading.Lock()
        self._statuses = dict(statuses)
        self._attempts: dict[str, list[Attempt]] = {}
        self._values: dict[str, Any] = {}  # what each callable's last attempt returned
        self._output: dict[tuple[str, int, str], CappedText] = {}
        self._images: dict[str, ImageChanged] = {}  # by key, in order of first use
        self._image_logs: dict[str, CappedText] = {}
        self._callbacks: list[CallbackFired] = []
        self._idle = threading.Event()
        self._idle.set()
        #: Where a loaded run reads output it does not hold: (path, stream, attempt) -> text.
        self.load_output: Callable[[str, str, int], str] | None = None

    # -- filled from the loop (observer) -------------------------------------------------
    def observe(self, event: object) -> None:
        with self._lock:
            if isinstance(event, StateChanged):
                self._statuses[event.path] = event.new
            elif isinstance(event, OutputChunk):
                key = (event.path, event.attempt, event.stream)
                self._output.setdefault(key, CappedText()).append(event.text)
            elif isinstance(event, AttemptStarted):
                self._attempts.setdefault(event.path, []).append(
                    Attempt(event.path, event.attempt, started=event.started, queued=event.queued)
                )
            elif isinstance(event, AttemptEnded):
                att = self._attempt(event.path, event.attempt)
                att.ended, att.state = event.ended, event.state
                att.exit_code, att.message = event.exit_code, event.message
                att.result = event.result
                if event.result is not None:
                    self._values[event.path] = event.value
                else:
                    self._values.pop(event.path, None)
            elif isinstance(event, ImageChanged):
                self._images[event.key] = event
            elif isinstance(event, CallbackFired):
                self._callbacks.append(event)
            elif isinstance(event, ImageLog):
                self._image_logs.setdefault(event.key, CappedText(IMAGE_LOG_CAP)).append(event.text)
            elif isinstance(event, TreeChanged):
                self._statuses = {
                    p: s
                    for p, s in self._statuses.items()
                    if not (p == event.path or p.startswith(event.path + "/"))
                }

    def _attempt(self, path: str, attempt: int) -> Attempt:
        for att in self._attempts.setdefault(path, []):
            if att.attempt == attempt:
                return att
        att = Attempt(path, attempt)  # ended without having started (killed while queued)
        self._attempts[path].append(att)
        return att

    def value(self, path: str) -> Any:
        """What the callable at `path` returned in its last attempt, if this process saw it."""
        with self._lock:
            return self._values.get(path)

    def replace_statuses(self, statuses: Mapping[str, NodeStatus]) -> None:
        with self._lock:
            self._statuses = dict(statuses)

    def add_attempts(self, attempts: list[Attempt]) -> None:
        with self._lock:
            for att in attempts:
                self._attempts.setdefault(att.path, []).append(att)

    def add_images(self, images: list[ImageChanged], logs: Mapping[str, str]) -> None:
        """A loaded run's images and build logs."""
        with self._lock:
            for image in images:
                self._images[image.key] = image
            for key, text in logs.items():
                self._image_logs.setdefault(key, CappedText(IMAGE_LOG_CAP)).append(text)

    def add_callbacks(self, fired: list[CallbackFired]) -> None:
        """A loaded run's fired callbacks."""
        with self._lock:
            self._callbacks.extend(fired)

    def callbacks(self, path: str | None = None) -> list[CallbackFired]:
        """The callbacks that fired (on the node at `path`, or all), in order."""
        with self._lock:
            return [c for c in self._callbacks if path is None or c.path == path]

    def set_idle(self, idle: bool) -> None:
        if idle:
            self._idle.set()
        else:
            self._idle.clear()

    # -- read from any thread ------------------------------------------------------------
    def wait_idle(self, timeout: float | None = None) -> bool:
        return self._idle.wait(timeout)

    @property
    def idle(self) -> bool:
        return self._idle.is_set()

    def status(self, path: str) -> NodeStatus:
        with self._lock:
            return self._statuses.get(path, NodeStatus(State.PENDING))

    def statuses(self) -> dict[str, NodeStatus]:
        with self._lock:
            return dict(self._statuses)

    def attempts(self, path: str) -> list[Attempt]:
        with self._lock:
            return list(self._attempts.get(path, []))

    def output(self, path: str, stream: str, attempt: int | None = None) -> str:
        with self._lock:
            atts = self._attempts.get(path, [])
            if attempt is None:
                if not atts:
                    return ""
                attempt = atts[-1].attempt
            text = self._output.get((path, attempt, stream))
        if text is not None:
            return str(text)
        return self.load_output(path, stream, attempt) if self.load_output else ""

    def images(self) -> list[ImageChanged]:
        """The co.Images the run uses, with their build state, in order of first use."""
        with self._lock:
            return list(self._images.values())

    def image_log(self, key: str, tail: int | None = None) -> str:
        """An image's build log (`tail`: only about its last characters, cheaply)."""
        with self._lock:
            text = self._image_logs.get(key)
            if text is None:
                return ""
            return str(text) if tail is None else text.tail(tail)
