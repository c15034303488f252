"""A FIFO budget of CPUs for the local backend, so a laptop running a wide Parallel is not
swamped: each job holds its `cpu` for its whole run and waits, in arrival order, until it fits.

Waiting is a plain future per waiter (no polling); a job asking for more than the whole budget
is clamped to it, so it runs alone instead of waiting forever.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

__all__ = ["CpuBudget"]

_EPS = 1e-9


class CpuBudget:
    """`total` CPUs shared by jobs; use `amount = await acquire(cpu)` then `release(amount)`.
    Only used from one event loop thread."""

    def __init__(self, total: float) -> None:
        if not total > 0:
            raise ValueError(f"`cpu_budget` must be positive, not {total!r}")
        self.total = float(total)
        self.used = 0.0
        self.holders = 0
        self._waiters: deque[tuple[float, asyncio.Future[None]]] = deque()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def _fits(self, amount: float) -> bool:
        return self.holders == 0 or self.used + amount <= self.total + _EPS

    def _take(self, amount: float) -> None:
        self.used += amount
        self.holders += 1

    async def acquire(self, cpu: float) -> float:
        """Wait until `cpu` fits (after everyone who asked before), take it and return the
        amount taken, to hand back to `release`. Cancelling the wait leaves the queue clean."""
        amount = min(max(float(cpu), 0.0), self.total)
        if not self._waiters and self._fits(amount):
            self._take(amount)
            return amount
        entry = (amount, asyncio.get_running_loop().create_future())
        self._waiters.append(entry)
        try:
            await entry[1]
        except asyncio.CancelledError:
            fut = entry[1]
            if fut.done() and not fut.cancelled():
                self.release(amount)  # granted, but cancelled before it could run
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(entry)
                self._wake()  # it may have been the head that held the others back
            raise
        return amount

    def release(self, amount: float) -> None:
        self.holders -= 1
        self.used = 0.0 if self.holders == 0 else self.used - amount
        self._wake()

    def _wake(self) -> None:
        while self._waiters:
            amount, fut = self._waiters[0]
            if fut.done():  # cancelled, its task has not cleaned up yet
                self._waiters.popleft()
                continue
            if not self._fits(amount):
                return
            self._waiters.popleft()
            self._take(amount)
            fut.set_result(None)
