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
