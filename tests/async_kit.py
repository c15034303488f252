"""What backend tests share: run an async body the way the runner does (its own loop, in a
non-main thread), and an output sink that records what a job printed and when it started."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any


def in_thread(body: Callable[[], Coroutine[Any, Any, Any]], timeout: float = 180) -> Any:
    """Run `body()` on a new event loop in a non-main thread and return its result."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(body())
        except BaseException as e:
            box["error"] = e

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), "the test body hung"
    if "error" in box:
        raise box["error"]
    return box.get("value")


class Sink:
    """Collects what a job prints, when, and when (how often) it was started."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str, float]] = []
        self.starts: list[float] = []

    def __call__(self, stream: str, text: str) -> None:
        self.items.append((stream, text, time.monotonic()))

    def started(self) -> None:
        self.starts.append(time.monotonic())

    def text(self, stream: str) -> str:
        return "".join(t for s, t, _ in self.items if s == stream)


def cell_function(source: str, name: str, cell: str = "/tmp/ipykernel_0/cell-7.py") -> Any:
    """A function as a notebook cell defines it: module `__main__` (so cloudpickle sends it by
    value), its file a name only `linecache` knows, as IPython does for a cell."""
    import linecache

    linecache.cache[cell] = (len(source), None, source.splitlines(True), cell)
    namespace: dict[str, Any] = {"__name__": "__main__"}
    exec(compile(source, cell, "exec"), namespace)
    return namespace[name]


FAILING_CELL = (
    "def build_report(n):\n    total = n * 2\n    raise ValueError(f'bad total {total}')\n"
)
