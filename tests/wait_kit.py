"""Waiting in a test for something that should happen (a process gone, a file written, a state
reached): poll until it holds, and fail saying what never happened. The timeout is a bound on
a broken run, never a speed target."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


def wait_for(
    predicate: Callable[[], object], timeout: float = 15, what: str = "condition reached"
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"not in time: {what}"
        time.sleep(0.02)


async def until(
    predicate: Callable[[], object], timeout: float = 60, what: str = "condition reached"
) -> None:
    """`wait_for` inside an event loop: the loop goes on while the test waits."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"not in time: {what}"
        await asyncio.sleep(0.02)
