"""What one node, or one co.Image, of a run came to. `run["/test/unit"]` is a NodeResult
(status, attempts, exit code, output) that reads the run's Record on every access, so it
follows a live run; `run.images` lists ImageResults, each a snapshot of a build's state whose
`log` is read when asked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from ..model.execs import Exec
from ..model.nodes import Node
from ..model.states import FAILED, CallbackFired, ImageChanged, ImageState, NodeStatus, State
from ..notebook.kept import ExecutedNotebook, kept
from .record import Attempt, Record

if TYPE_CHECKING:
    from .runs import Run

__all__ = ["ImageResult", "NodeResult", "first_failure"]


@dataclass(frozen=True)
class ImageResult:
    """One co.Image a run uses: what it is, its build state, the tag it built to, the Execs
    that need it, and (`log`) what its build printed."""

    key: str
    label: str
    state: ImageState
    nodes: tuple[str, ...]
    tag: str | None
    message: str | None
    started: float | None
    ended: float | None
    step: str | None  # how far its build is ("3/7"), while it builds
    record: Record = field(repr=False, compare=False)

    @classmethod
    def of(cls, record: Record, status: ImageChanged) -> ImageResult:
        return cls(**{f.name: getattr(status, f.name) for f in fields(status)}, record=record)

    @property
    def log(self) -> str:
        """What its build printed (the last MB)."""
        return self.record.image_log(self.key)


class NodeResult:
    """What happened to one node of a run: its status, attempts, exit code and output."""

    def __init__(self, run: Run, path: str) -> None:
        self.run, self.path = run, path

    @property
    def status(self) -> NodeStatus:
        return self.run.record.status(self.path)

    @property
    def state(self) -> State:
        """Its state; `blocked` when a failure before it holds it back (see `held_back_by`)."""
        return self.status.state

    @property
    def result(self) -> Any:
        """What the callable returned in its last attempt: the object itself where this process
        ran it, else (a run read from the store) its repr. None for a shell command."""
        value = self.run.record.value(self.path)
        if value is not None:
            return value
        last = self._last()
        return last.result if last else None

    @property
    def notebook(self) -> ExecutedNotebook | None:
        """A co.Notebook's executed notebook, as far as it ran (`.save("out.ipynb")`,
        `.html()`; shown in a cell, rendered); None before it ran or for another node."""
        value = self.run.record.value(self.path)
        if isinstance(value, ExecutedNotebook):
            return value
        return kept(self.run.id, self.path)

    @property
    def held_back_by(self) -> str | None:
        """For a blocked node, the failed Exec it waits for: rerun (or modify) that one and
        this node runs after it. None when nothing holds it back."""
        blocked_by = self.status.blocked_by
        if blocked_by is None:
            return None
        return first_failure(self.run.tree, blocked_by, self.run.record.status)

    @property
    def attempts(self) -> list[Attempt]:
        return self.run.record.attempts(self.path)

    @property
    def callbacks(self) -> list[CallbackFired]:
        """The callbacks that fired on this node: what each did and whether it worked."""
        return self.run.record.callbacks(self.path)

    def _last(self) -> Attempt | None:
        atts = self.attempts
        return atts[-1] if atts else None

    @property
    def exit_code(self) -> int | None:
        last = self._last()
        return last.exit_code if last else None

    @property
    def started(self) -> float | None:
        last = self._last()
        return last.started if last else None

    @property
    def ended(self) -> float | None:
        last = self._last()
        return last.ended if last else None

    @property
    def duration(self) -> float | None:
        last = self._last()
        return last.duration if last else None

    @property
    def stdout(self) -> str:
        return self.run.record.output(self.path, "stdout")

    @property
    def stderr(self) -> str:
        return self.run.record.output(self.path, "stderr")

    def __repr__(self) -> str:
        code = f" exit {self.exit_code}" if self.exit_code is not None else ""
        took = f" {self.duration:.2f}s" if self.duration is not None else ""
        tries = len(self.attempts)
        again = f", {tries} attempts" if tries > 1 else ""
        return f"<NodeResult {self.path} {self.status.label}{code}{took}{again}>"

    # -- display: a snapshot of when the cell ran; the graph widget of `run` is the live view
    def _repr_html_(self) -> str:
        """Path, state chip, exit code, attempts and the last lines of stdout and stderr: a
        snapshot of when the cell ran. The graph widget (`run` shown) is the live view."""
        from ..widget.result_view import html_of  # up a layer: the view is the widget's

        return html_of(self)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        """The same as text, for IPython in a terminal."""
        from ..widget.result_view import text_of  # up a layer: the view is the widget's

        p.text(repr(self) if cycle else text_of(self))


def first_failure(top: Node, path: str, status: Callable[[str], NodeStatus]) -> str:
    """The first Exec that failed at or below `path`, in the order of the tree (what a node
    blocked by `path` waits for), else `path` itself."""
    try:
        node = top[path]
    except KeyError:
        return path
    for below in node.walk():
        if isinstance(below, Exec) and status(below.path).state in FAILED:
            return below.path
    return path
