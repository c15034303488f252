"""Reruns and kills of attempts, known on the Dask scheduler by a small plugin, so a task
needs no round trip to start (distributed Events took four per task: is_set, set, and the
client's two clears).

Dask runs a task again elsewhere when its worker dies; an attempt must never run twice. The
plugin sees every transition: when an attempt's task leaves `processing` or `memory` for
`released` (its worker died, or the client cancelled it: then nothing runs it again), it marks
the task's annotations, which the scheduler sends with the next `compute-task`. A worker
given a marked task refuses it before anything runs (on_worker.py). Nothing to clear: the
mark goes with the task. A kill is remembered for `KILL_MEMORY`, for a running task's polls.

The scheduler imports this module to unpickle the plugin (it imports on_worker.py anyway, to
unpickle each task's function): it needs conducto_nb installed, as the workers do.
"""

from __future__ import annotations

import time
from typing import Any

from distributed.diagnostics.plugin import SchedulerPlugin

__all__ = ["KILL", "KILLED", "PREFIX", "RERUN", "Claims"]

#: Every attempt's key starts so; the plugin looks only at these keys.
PREFIX = "conducto_nb-"
KILL, KILLED = "conducto_nb_kill", "conducto_nb_killed"
#: The annotation that marks a task Dask places again after it left a worker.
RERUN = "conducto_nb_rerun"
#: Where a task went from when it left its worker (its result lost with it, or never made).
_LEFT = {"processing", "memory"}
#: How long a kill is remembered after it was asked (seconds).
KILL_MEMORY = 3600.0


class Claims(SchedulerPlugin):  # type: ignore[misc]  # (distributed is untyped here)
    """Scheduler-side: marks attempts Dask places again; which were killed, by token (= key)."""

    name = "conducto_nb-claims"
    idempotent = True  # one per scheduler, whichever client registers it first

    def __init__(self) -> None:
        self.scheduler: Any = None
        self.killed: dict[str, float] = {}  # token -> when the kill was asked

    def start(self, scheduler: Any) -> None:
        self.scheduler = scheduler
        scheduler.handlers[KILL] = self.kill
        scheduler.handlers[KILLED] = self.is_killed

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
        """Mark an attempt that left its worker before the scheduler places it again (this
        runs inside the transitions, before the next `compute-task` is made)."""
        if finish != "released" or start not in _LEFT or not str(key).startswith(PREFIX):
            return
        task = self.scheduler.tasks.get(key)
        if task is not None:  # a new dict: tasks of one graph may share theirs
            task.annotations = {**(task.annotations or {}), RERUN: True}
