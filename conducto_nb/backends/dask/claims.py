"""Claims and kills of attempts, kept on the Dask scheduler by a small plugin: one round trip
per task where distributed Events took four (is_set, set, and the client's two clears).

Dask runs a task again elsewhere when its worker dies; an attempt must never run twice. So a
task first claims its token: the scheduler answers "ok" once and "again" to any later run of
it, atomically (handlers run one at a time on the scheduler's loop). A claim goes when the
scheduler forgets the task's key (the client dropped its future: the attempt ended), so
nobody clears anything. A kill is remembered longer (`KILL_MEMORY`): Dask may still start a
queued task the client cancelled, and that start must stop at its claim.

This module imports only the standard library and `distributed` at module level, because the
client sends the plugin to the scheduler by value: the scheduler needs no conducto_nb.
"""

from __future__ import annotations

import time
from typing import Any

from distributed.diagnostics.plugin import SchedulerPlugin

__all__ = ["CLAIM", "KILL", "KILLED", "PREFIX", "Claims"]

#: Every attempt's key starts so; the plugin looks only at these keys.
PREFIX = "conducto_nb-"
CLAIM, KILLED = "conducto_nb_claim", "conducto_nb_killed"
KILL = "conducto_nb_kill"
#: How long a kill is remembered after it was asked (seconds).
KILL_MEMORY = 3600.0


class Claims(SchedulerPlugin):  # type: ignore[misc]  # (distributed is untyped here)
    """Scheduler-side: which attempts started and which were killed, by token (= task key)."""

    name = "conducto_nb-claims"
    idempotent = True  # one per scheduler, whichever client registers it first

    def __init__(self) -> None:
        self.claimed: set[str] = set()
        self.killed: dict[str, float] = {}  # token -> when the kill was asked

    def start(self, scheduler: Any) -> None:
        scheduler.handlers[CLAIM] = self.claim
        scheduler.handlers[KILL] = self.kill
        scheduler.handlers[KILLED] = self.is_killed

    def claim(self, token: str) -> str:
        """'ok' for the first run of `token`, 'again' for a later one, 'killed' if killed."""
        if token in self.killed:
            return "killed"
        if token in self.claimed:
            return "again"
        self.claimed.add(token)
        return "ok"

    def kill(self, token: str) -> None:
        now = time.monotonic()
        if len(self.killed) > 1000:  # forget old kills now and then, not at every one
            self.killed = {t: at for t, at in self.killed.items() if now - at < KILL_MEMORY}
        self.killed[token] = now

    def is_killed(self, token: str) -> bool:
        return token in self.killed

    def transition(
        self, key: Any, start: str, finish: str, *args: Any, stimulus_id: str, **kwargs: Any
    ) -> None:
        if finish == "forgotten" and isinstance(key, str) and key.startswith(PREFIX):
            self.claimed.discard(key)
