"""Node states, how a Serial or Parallel derives its state from its children, and the events
every observer (store, widget, terminal, control channel) receives.

Skip is a flag beside the state, not a state: a skipped node shows `done-skipped` or
`pending-skipped`, and unskip simply clears the flag. `blocked` is what a pending node shows
while a failure before it holds it back (a later step of a Serial that stopped at an error):
it will not run until that failure is rerun, which resumes it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ACTIVE",
    "FAILED",
    "FINISHED",
    "IMAGE_LOG_CAP",
    "ImageChanged",
    "ImageLog",
    "ImageState",
    "NodeStatus",
    "State",
    "StateChanged",
    "TreeChanged",
    "derive_state",
]


class State(enum.StrEnum):
    """A node's state. An Exec is pending, queued, running, then done or failed (error,
    worker_error when the backend failed rather than the command, killed); a Serial or
    Parallel derives its state from its children. `blocked` is pending, held back by the
    failure that `NodeStatus.blocked_by` names: rerunning that failure resumes it."""

    PENDING = "pending"
    BLOCKED = "blocked"
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    ERROR = "error"
    WORKER_ERROR = "worker_error"  # the backend failed, not the command
    KILLED = "killed"


ACTIVE = frozenset({State.QUEUED, State.RUNNING})
FAILED = frozenset({State.ERROR, State.WORKER_ERROR, State.KILLED})
FINISHED = FAILED | {State.DONE}


@dataclass(frozen=True, slots=True)
class NodeStatus:
    """What a viewer shows for one node; a blocked one says which earlier step's failure
    holds it back (`blocked_by`, the failed sibling of it or of an ancestor)."""

    state: State = State.PENDING
    skipped: bool = False
    blocked_by: str | None = None

    @property
    def label(self) -> str:
        return f"{self.state.value}-skipped" if self.skipped else self.state.value


@dataclass(frozen=True, slots=True)
class StateChanged:
    """Observer event: the node at `path` went from `old` to `new`. Only net changes of one
    scheduler step are published, never the transient states inside it."""

    path: str
    old: NodeStatus
    new: NodeStatus


@dataclass(frozen=True, slots=True)
class TreeChanged:
    """Observer event: the subtree at `path` was replaced (a Lazy node grafted its generated
    tree, or a reset put the placeholder back). `tree` is the new subtree's JSON form."""

    path: str
    tree: Mapping[str, Any] = field(repr=False)


def child_category(state: State, skipped: bool, suppress_errors: bool) -> State | None:
    """How a child (its status's state and skip) counts in its parent's derivation: skipped
    children do not count (None), a failure whose node suppresses errors counts as done.
    Fields, not a NodeStatus: asked for on every change, where making one cost."""
    if skipped:
        return None
    if state in FAILED and suppress_errors:
        return State.DONE
    if state is State.BLOCKED:  # pending, as far as its parent is concerned
        return State.PENDING
    return state


def derive_state(
    counts: Mapping[State, int], *, suppress_errors: bool, awaiting_generation: bool = False
) -> State:
    """The state of a Serial or Parallel from counts of its children's categories:
    running while any child runs (queued while any is queued); else error if any failed, done
    instead when the node suppresses errors; else done when nothing is left pending."""
    if counts.get(State.RUNNING, 0):
        return State.RUNNING
    if counts.get(State.QUEUED, 0):
        return State.QUEUED
    if any(counts.get(s, 0) for s in FAILED):
        return State.DONE if suppress_errors else State.ERROR
    if awaiting_generation or counts.get(State.PENDING, 0) or counts.get(State.BLOCKED, 0):
        return State.PENDING
    return State.DONE


def count_categories(categories: Iterable[State | None]) -> dict[State, int]:
    counts: dict[State, int] = {}
    for c in categories:
        if c is not None:
            counts[c] = counts.get(c, 0) + 1
    return counts


@dataclass(frozen=True, slots=True)
class OutputChunk:
    """Observer event: text an attempt printed (secrets already masked)."""

    path: str
    attempt: int
    stream: str  # "stdout" or "stderr"
    text: str


@dataclass(frozen=True, slots=True)
class CallbackFired:
    """Observer event: a callback attached to a node fired (run/callbacks.py). `ok` is None
    while a notification is being sent, then whether it worked; `message` says what it did."""

    path: str  # the node whose state change fired it
    event: str  # "done", "error"... (model/callbacks.py EVENTS)
    label: str  # the callback, as a person reads it: "retry(max_num_retries=3)"
    fired: float
    ok: bool | None
    message: str


@dataclass(frozen=True, slots=True)
class AttemptStarted:
    """Observer event: the backend started an attempt's process; it had been queued (the
    scheduler said to start it) since `queued`."""

    path: str
    attempt: int
    started: float
    queued: float | None = None


@dataclass(frozen=True, slots=True)
class AttemptEnded:
    """Observer event: an attempt ended; `message` says why when the command did not decide.
    A callable's return value is `value` (in this process only) and `result`, its repr."""

    path: str
    attempt: int
    state: str
    exit_code: int | None
    ended: float
    message: str | None
    result: str | None = None
    value: Any = field(default=None, compare=False, repr=False)


class ImageState(enum.StrEnum):
    """Where a pipeline's co.Image is: waiting to build, building, ready (built now or found
    built), failed, or not used at all (a backend that runs no images: local processes)."""

    PENDING = "pending"
    BUILDING = "building"
    DONE = "done"
    ERROR = "error"
    UNUSED = "unused"


@dataclass(frozen=True, slots=True)
class ImageChanged:
    """Observer event: one of the pipeline's co.Images changed state. `key` tells images
    apart within a pipeline; `label` is what a person recognises it by; `nodes` are the
    Execs that need it; `message` says why it failed or is unused; `step` is how far a
    build is, as Docker counts its steps ("3/7"), while it builds."""

    key: str
    label: str
    state: ImageState
    nodes: tuple[str, ...]
    tag: str | None = None
    message: str | None = None
    started: float | None = None
    ended: float | None = None
    step: str | None = None


IMAGE_LOG_CAP = 2**20  # characters kept of an image's build log (the last ones), here and stored


@dataclass(frozen=True, slots=True)
class ImageLog:
    """Observer event: lines an image's build printed (each ends with a newline)."""

    key: str
    text: str
