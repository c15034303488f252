"""Keeps the store in step with a run: every state change, attempt, output chunk, image
build and grafted subtree an Execution publishes is written through the batching writer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from ..model.states import (
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
from .record import Attempt

if TYPE_CHECKING:
    from ..store.pipelines import AttemptRecord
    from ..store.writer import StoreWriter
    from .scheduler import Scheduler

__all__ = ["StoreObserver", "loaded", "loaded_attempts", "stored"]


class StoreObserver:
    """Writes what an Execution publishes to the store, through the batching writer."""

    def __init__(self, pipeline_id: str, writer: StoreWriter, scheduler: Scheduler) -> None:
        self.id, self.writer, self.scheduler = pipeline_id, writer, scheduler

    def __call__(self, event: object) -> None:
        w = self.writer
        if isinstance(event, StateChanged):
            w.set_statuses(self.id, [stored(event.path, event.new)])
        elif isinstance(event, OutputChunk):
            w.append_output(self.id, event.path, event.attempt, event.stream, event.text)
        elif isinstance(event, AttemptStarted):
            w.start_attempt(self.id, event.path, event.attempt, event.started, event.queued)
        elif isinstance(event, AttemptEnded):
            w.finish_attempt(
                self.id,
                event.path,
                event.attempt,
                state=event.state,
                exit_code=event.exit_code,
                ended=event.ended,
                message=event.message,
                result=event.result,
            )
        elif isinstance(event, ImageChanged):
            w.set_image(self.id, event)
        elif isinstance(event, CallbackFired):
            w.add_callback(self.id, event)
        elif isinstance(event, ImageLog):
            w.append_image_log(self.id, event.key, event.text)
        elif isinstance(event, TreeChanged):
            w.set_tree(self.id, self.scheduler.root.to_json())
            w.set_statuses(
                self.id,
                [
                    stored(p, s)
                    for p, s in self.scheduler.statuses().items()
                    if p.startswith(event.path)
                ],
            )


def stored(path: str, status: NodeStatus) -> tuple[str, str, bool, str | None]:
    """A node's status as the store keeps it: (path, state, skipped, blocked_by)."""
    return (path, status.state.value, status.skipped, status.blocked_by)


def loaded(
    statuses: Mapping[str, tuple[str, bool]], blocked: Mapping[str, str]
) -> dict[str, NodeStatus]:
    """Statuses as the store gave them back, blocked ones with what holds them."""
    return {p: NodeStatus(State(s), sk, blocked.get(p)) for p, (s, sk) in statuses.items()}


def loaded_attempts(attempts: Mapping[str, list[AttemptRecord]]) -> list[Attempt]:
    """Attempts as the store gave them back, as a Record keeps them."""
    return [Attempt(**vars(a)) for atts in attempts.values() for a in atts]
