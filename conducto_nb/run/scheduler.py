"""The pure scheduler core: `Scheduler.handle(event) -> instructions`.

No asyncio, no processes, no clock: the runner feeds it events (user actions, an Exec started,
an Exec finished) and carries out what it answers (start this Exec, kill that one, publish this
state change). Every ordering rule lives here, so each is unit-testable in microseconds — the
shape of distributed's worker_state_machine.

Rules: a Serial starts child k+1 only after child k finished, and works on one child at a time
(it waits while a later one is at work); with stop_on_error it stops at a failure. A Parallel
starts all children. `max_concurrent` caps running Execs below a node, and a
`ContainerReuseContext.NEW` subtree runs one Exec at a time (it shares one container; a GLOBAL
subtree inside it runs in the pools, beside it); an action on any node of such a subtree acts on
the whole subtree. Retries restart a failed Exec, except
inside a killed subtree. Rerunning a failure resumes what it held back: the later steps of
each Serial that stopped at it (blocked nodes, blocking.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from itertools import islice

from ..errors import ActionError
from ..model.execs import Exec
from ..model.nodes import Node
from ..model.states import (
    ACTIVE,
    FAILED,
    FINISHED,
    NodeStatus,
    State,
    StateChanged,
    TreeChanged,
)
from .status_tree import NodeInfo, StatusTree

__all__ = [
    "ACTIONS",
    "Action",
    "ExecFinished",
    "ExecStarted",
    "KillExec",
    "Rejected",
    "Scheduler",
    "StartExec",
]

ACTIONS = ("run", "rerun", "reset", "skip", "unskip", "kill")


# -- events in ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Action:
    """A user's action on the node at `path` and its subtree."""

    name: str
    path: str = "/"

    def __post_init__(self) -> None:
        if self.name not in ACTIONS:
            raise ActionError(f"unknown action `{self.name}`; one of {', '.join(ACTIONS)}")


@dataclass(frozen=True, slots=True)
class ExecStarted:
    """The backend started attempt `attempt` of the Exec at `path`."""

    path: str
    attempt: int


@dataclass(frozen=True, slots=True)
class ExecFinished:
    """Attempt `attempt` ended in `state`; a Lazy generator's `result` is the generated node."""

    path: str
    attempt: int
    state: State
    result: Node | None = None


Event = Action | ExecStarted | ExecFinished


# -- instructions out -----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class StartExec:
    """Run this Exec. `reuse_group` names the NEW subtree whose one container it must use."""

    path: str
    attempt: int
    node: Exec = field(repr=False)
    reuse_group: str | None = None


@dataclass(frozen=True, slots=True)
class KillExec:
    path: str
    attempt: int


@dataclass(frozen=True, slots=True)
class Rejected:
    """The action could not be taken; `reason` says why in a sentence."""

    action: Action
    reason: str


Instruction = StartExec | KillExec | Rejected | StateChanged | TreeChanged


class Scheduler:
    """Owns the statuses of one tree, and the tree itself: it grafts Lazy subtrees into it."""

    def __init__(self, root: Node) -> None:
        self.root = root
        self._tree = StatusTree(root)
        self._run_roots: dict[str, None] = {}  # ordered set of paths being run
        self._holds: set[str] = set()  # killed subtrees: nothing new starts inside them
        self._out: list[Instruction] = []

    # -- queries ----------------------------------------------------------------------------
    def status(self, path: str) -> NodeStatus:
        return self._tree.info(path).status

    def statuses(self) -> dict[str, NodeStatus]:
        return {p: i.status for p, i in self._tree.infos.items()}

    @property
    def idle(self) -> bool:
        """Nothing runs and nothing is waiting to be started."""
        return not self._run_roots and self._tree.root.active == 0

    def execs(self) -> list[tuple[str, Exec, str | None]]:
        """Every Exec of the tree: (path, node, the NEW reuse subtree it belongs to)."""
        return [
            (p, i.node, i.group)
            for p, i in self._tree.infos.items()
            if i.exec and isinstance(i.node, Exec)
        ]

    def attempts(self, path: str) -> int:
        return self._tree.info(path).attempt

    def restore(self, statuses: Mapping[str, NodeStatus], attempts: Mapping[str, int]) -> None:
        """Take over a stored run: Exec states and skip flags as stored (parents derive from
        them), attempt numbers continuing from `attempts` so the old run's reports are stale.
        An Exec stored queued or running lost its process: it is an error, as the store has it.
        Nothing is published and nothing starts: the pipeline is idle until an action."""
        tree = self._tree
        if not self.idle or any(i.attempt for i in tree.infos.values()):
            raise ActionError("only a scheduler that has not run yet can restore a stored run")
        for path, status in statuses.items():
            info = tree.infos.get(path)
            if info is None:
                continue
            if info.exec:
                state = State.PENDING if status.state is State.BLOCKED else status.state
                tree.set_exec_state(info, State.ERROR if state in ACTIVE else state)
            tree.set_skipped(info, status.skipped)
        for path, attempt in attempts.items():
            info = tree.infos.get(path)
            if info is not None and info.exec:
                info.attempt = max(info.attempt, attempt)
        tree.begin()  # a restore is not a step: its changes are already in the store

    # -- the one entry point ----------------------------------------------------------------
    def handle(self, event: Event) -> list[Instruction]:
        self._out = []
        self._tree.begin()
        if isinstance(event, Action):
            self._act(event)
        elif isinstance(event, ExecStarted):
            info = self._tree.infos.get(event.path)
            if info and info.exec and info.attempt == event.attempt and info.state is State.QUEUED:
                self._tree.set_exec_state(info, State.RUNNING)
        else:
            self._finished(event)
        if not isinstance(event, ExecStarted):  # queued to running frees nothing to start
            self._advance()
        self._out.extend(self._tree.end())
        return self._out

    # -- exec outcomes ----------------------------------------------------------------------
    def _finished(self, ev: ExecFinished) -> None:
        info = self._tree.infos.get(ev.path)
        if info is None or not info.exec or info.attempt != ev.attempt or info.state not in ACTIVE:
            return  # a stale report: the node was reset or retried since (or is no Exec)
        retry = ev.state in (State.ERROR, State.WORKER_ERROR) and info.tries <= info.retries
        if retry and not self._held(info):  # a killed subtree starts nothing, retries neither
            self._start(info)
            return
        state = ev.state
        if state is State.DONE and info.generates:
            # The generated tree replaces `Execute`, which cannot happen while that one runs.
            if (
                isinstance(ev.result, Node)
                and ev.result.parent is None
                and self._tree.can_graft(info)
            ):
                self._out.append(self._tree.graft(info, ev.result))
            else:
                state = State.ERROR
        self._tree.set_exec_state(info, state)

    # -- actions ----------------------------------------------------------------------------
    def _act(self, action: Action) -> None:
        if action.path not in self._tree.infos:
            self._out.append(Rejected(action, f"no node at `{action.path}`"))
            return
        target = self._tree.action_target(self._tree.infos[action.path])
        name = action.name
        resets_all = name == "reset" or (name == "rerun" and target.path == target.group)
        if (resets_all or name == "skip") and target.active:
            self._out.append(Rejected(action, f"{target.path} is running; kill it first"))
            return
        if name in ("run", "rerun") and self._tree.skipped_at_or_above(target):
            self._out.append(Rejected(action, f"{target.path} is skipped; unskip it first"))
            return
        if name == "kill":
            self._holds.add(target.path)
            for path in [p for p in self._run_roots if _at_or_below(p, target.path)]:
                del self._run_roots[path]
            for ex in self._active_execs(target):
                self._out.append(KillExec(ex.path, ex.attempt))
        elif name in ("skip", "unskip"):
            self._tree.set_skipped(target, name == "skip")
        elif name == "reset":
            self._out.extend(self._tree.reset(target, only_failed=False))
        else:  # run, rerun
            resumed = self._stopped_by(target) if name == "rerun" else None
            if name == "rerun":
                # A reuse group's Execs built state together: they are redone together.
                self._out.extend(self._tree.reset(target, only_failed=target.path != target.group))
            # A run (or a rerun's resumption) reopens what a kill held in its subtree.
            reopened = resumed or target
            self._holds = {h for h in self._holds if not _at_or_below(h, reopened.path)}
            self._run_roots[target.path] = None
            if resumed is not None:  # "re-run failed jobs": what they held back goes on after
                self._run_roots[resumed.path] = None

    def _stopped_by(self, target: NodeInfo) -> NodeInfo | None:
        """The highest ancestor whose work a failure at or in `target` holds back: a Serial
        that stopped there with work left after it, and each one above that stopped at that
        Serial's failure in turn. Rerunning `target` runs it again, so it resumes in order."""
        top = None
        child, node = target, target.parent
        while node is not None and child.category in FAILED:
            later = node.children[child.index + 1 :]
            if (
                node.serial
                and node.stop_on_error
                and any(k.pending and not k.skipped for k in later)
            ):
                top = node
            child, node = node, node.parent
        return top

    def _held(self, info: NodeInfo) -> bool:
        """Inside a killed subtree that no later run or rerun reopened."""
        node: NodeInfo | None = info
        while node is not None:
            if node.path in self._holds:
                return True
            if node.path in self._run_roots:
                return False
            node = node.parent
        return False

    def _active_execs(self, info: NodeInfo) -> Iterator[NodeInfo]:
        if info.active:
            if info.exec:
                yield info
            for kid in info.children:
                yield from self._active_execs(kid)

    # -- starting work ----------------------------------------------------------------------
    def _advance(self) -> None:
        for path in list(self._run_roots):
            info = self._tree.infos.get(path)
            # Its subtree was replaced, or skipped while a cap held the run back.
            if info is None or self._tree.skipped_at_or_above(info):
                del self._run_roots[path]
                continue
            full = any(a.full for a in self._tree.caps_over(info))
            blocked = full or self._visit(info)
            if not blocked and info.active == 0:
                del self._run_roots[path]

    def _visit(self, info: NodeInfo) -> bool:
        """Start what may start below `info`; True when a max_concurrent cap held work back."""
        if info.skipped or info.pending == 0 or info.path in self._holds:
            return False
        if info.exec:
            if any(a.full for a in info.caps):
                return True
            self._start(info)
            return False
        if info.holds_all_below:
            return True
        if info.serial:
            return self._visit_serial(info)
        blocked = False
        info.cursor = _first_with_pending(info)
        for kid in islice(info.children, info.cursor, None):
            if kid.pending and not kid.skipped:
                blocked = self._visit(kid) or blocked
                if info.holds_all_below:
                    return True
        return blocked

    def _visit_serial(self, info: NodeInfo) -> bool:
        """A Serial works on one child at a time, in order: the first one not yet finished. It
        waits while a later child is at work (one run earlier, or by the user's own run)."""
        kids = info.children
        i = info.cursor
        while i < len(kids) and (kids[i].skipped or self._passed(info, kids[i])):
            i += 1
        info.cursor = i
        for kid in islice(kids, i, None):
            if kid.skipped:
                continue
            if kid.active:
                return self._visit(kid) if kid.pending else False
            if info.active:  # the children before this one are not at work: a later one is
                return False
            blocked = self._visit(kid) if kid.pending else False
            if blocked or kid.state in ACTIVE or not self._passed(info, kid, kid.pending):
                return blocked
        return False

    @staticmethod
    def _passed(serial: NodeInfo, kid: NodeInfo, pending: int = 0) -> bool:
        """The Serial may go past this child: it finished, and not with an error that stops it
        (`pending` Execs left in a finished child are held back inside it)."""
        if kid.pending != pending or kid.state not in FINISHED:
            return False
        return kid.state is State.DONE or kid.suppress or not serial.stop_on_error

    def _start(self, info: NodeInfo) -> None:
        info.attempt += 1
        info.tries += 1
        self._tree.set_exec_state(info, State.QUEUED)
        assert isinstance(info.node, Exec)
        self._out.append(StartExec(info.path, info.attempt, info.node, info.group))


def _first_with_pending(info: NodeInfo) -> int:
    i = info.cursor
    kids = info.children
    while i < len(kids) and (kids[i].pending == 0 or kids[i].skipped):
        i += 1
    return i


def _at_or_below(path: str, top: str) -> bool:
    return top == "/" or path == top or path.startswith(top + "/")


def tree_statuses(scheduler: Scheduler) -> dict[str, str]:
    """path -> label, for `Node.pretty(statuses=...)`."""
    return {p: s.label for p, s in scheduler.statuses().items()}
