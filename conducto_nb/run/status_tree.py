"""The scheduler's incremental view of a tree: each node's status, and per subtree the counts
that keep every step cheap on a 10,000-node tree (pending and running Execs below, children
per state category), plus Lazy grafting and which pending nodes a failure holds back
(blocking.py). The rules of what to start live in scheduler.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from ..errors import NodeNotFound
from ..model.building import detached
from ..model.execs import Exec
from ..model.nodes import Node, Serial
from ..model.params import ContainerReuseContext
from ..model.states import (
    ACTIVE,
    FAILED,
    NodeStatus,
    State,
    StateChanged,
    TreeChanged,
    child_category,
    count_categories,
    derive_state,
)
from .blocking import failed_child_changed, reblock

__all__ = ["NodeInfo", "StatusTree"]

#: The statuses of nodes not blocked, made once: a run asks for several per state change.
_PLAIN = {
    (state, skipped): NodeStatus(state, skipped) for state in State for skipped in (False, True)
}


@dataclass(eq=False, slots=True)
class NodeInfo:
    node: Node
    path: str
    parent: NodeInfo | None
    exec: bool
    serial: bool
    skipped: bool
    suppress: bool
    stop_on_error: bool = True
    cap: int | None = None  # max_concurrent (1 for a NEW reuse subtree)
    group: str | None = None  # the NEW reuse subtree this node belongs to
    caps: tuple[NodeInfo, ...] = ()  # capped strict ancestors (Execs only)
    kid_caps: tuple[NodeInfo, ...] = ()  # the caps its children are under
    container_cap: bool = False  # its cap is a NEW subtree's one container
    escapes: bool = False  # a GLOBAL subtree below leaves an enclosing NEW subtree's cap
    retries: int = 0
    generates: bool = False
    state: State = State.PENDING
    children: list[NodeInfo] = field(default_factory=list)
    counts: dict[State, int] = field(default_factory=dict)
    pending: int = 0  # pending Execs below, skipped subtrees left out (own skip aside)
    active: int = 0  # queued or running Execs below
    capped_active: int = 0  # those of them under this node's cap
    attempt: int = 0  # attempts ever started (ids ExecFinished reports)
    tries: int = 0  # attempts since the last reset, for retries
    cursor: int = 0  # children before it have nothing pending (Serial: and are passed)
    index: int = 0  # its place among its parent's children
    first_failed: int | None = None  # a Serial's first child that counts as failed
    blocked_by: str | None = None  # the failed step that holds it back (shown while pending)

    @property
    def status(self) -> NodeStatus:
        if self.blocked_by is not None and self.state is State.PENDING and not self.skipped:
            return NodeStatus(State.BLOCKED, False, self.blocked_by)
        return _PLAIN[self.state, self.skipped]

    @property
    def category(self) -> State | None:
        # (Its state, not its status's: a blocked node's state is pending, as it counts.)
        return child_category(self.state, self.skipped, self.suppress)

    @property
    def full(self) -> bool:
        return self.cap is not None and self.capped_active >= self.cap

    @property
    def holds_all_below(self) -> bool:
        """Full, and nothing below escapes the cap: no need to look further down."""
        return self.full and not self.escapes

    @property
    def awaiting(self) -> bool:
        """A Lazy's empty `Execute` that its Generate may still fill (a skipped one never will,
        so the placeholder is then an empty Serial: done)."""
        if not (isinstance(self.node, Serial) and self.node.awaiting_generation):
            return False
        return self.parent is None or not any(
            k.generates and k.skipped for k in self.parent.children
        )

    def derive(self) -> State:
        return derive_state(
            self.counts, suppress_errors=self.suppress, awaiting_generation=self.awaiting
        )

    def walk(self) -> Iterator[NodeInfo]:
        yield self
        for kid in self.children:
            yield from kid.walk()


class StatusTree:
    def __init__(self, root: Node) -> None:
        self.infos: dict[str, NodeInfo] = {}
        self.root = self._build(root, None, None, ())
        self._before: dict[str, NodeStatus] = {}

    def info(self, path: str) -> NodeInfo:
        try:
            return self.infos[path]
        except KeyError:
            raise NodeNotFound(f"no node at `{path}`") from None

    def _build(
        self, node: Node, parent: NodeInfo | None, group: str | None, caps: tuple[NodeInfo, ...]
    ) -> NodeInfo:
        own = node.own_params
        reuse = own.get("container_reuse_context")
        if reuse is ContainerReuseContext.NEW:
            group = node.path
        elif reuse is ContainerReuseContext.GLOBAL:
            group = None
            # Its Execs go back to the pools: an enclosing container's one-at-a-time cap
            # does not hold them (a max_concurrent still does).
            caps = tuple(a for a in caps if not a.container_cap)
        cap = own.get("max_concurrent")
        if reuse is ContainerReuseContext.NEW:
            cap = 1 if cap is None else min(cap, 1)
        is_exec = isinstance(node, Exec)
        info = NodeInfo(
            node,
            node.path,
            parent,
            is_exec,
            isinstance(node, Serial),
            bool(own.get("skip", False)),
            bool(own.get("suppress_errors", False)),
            stop_on_error=bool(own.get("stop_on_error", True)),
            cap=cap,
            group=group,
            caps=caps if is_exec else (),
            container_cap=reuse is ContainerReuseContext.NEW,
            escapes=reuse is ContainerReuseContext.GLOBAL,
        )
        self.infos[info.path] = info
        if isinstance(node, Exec):
            info.retries = node.get_param("retries")
            info.generates = node.generates
            info.pending = 1
            return info
        info.kid_caps = (*caps, info) if cap is not None else caps
        for i, kid in enumerate(node.children.values()):  # `Execute` looks at `Generate`
            info.children.append(self._build(kid, info, group, info.kid_caps))
            info.children[-1].index = i
        info.escapes = info.escapes or any(k.escapes for k in info.children)
        info.counts = count_categories(k.category for k in info.children)
        info.pending = sum(k.pending for k in info.children if not k.skipped)
        info.state = info.derive()
        return info

    # -- change tracking: only a step's net changes are published ------------------------
    def begin(self) -> None:
        self._before = {}

    def _note(self, info: NodeInfo) -> None:
        self._before.setdefault(info.path, info.status)

    def end(self) -> list[StateChanged]:
        out = []
        for path, before in self._before.items():
            info = self.infos.get(path)
            if info is not None and (now := info.status) != before:
                out.append(StateChanged(path, before, now))
        return out

    # -- updates -----------------------------------------------------------------------------
    def set_exec_state(self, info: NodeInfo, new: State) -> None:
        old = info.state
        if old is new:
            return
        self._note(info)
        old_cat = info.category
        info.state = new
        self._add_pending(info, int(new is State.PENDING) - int(old is State.PENDING))
        d_active = int(new in ACTIVE) - int(old in ACTIVE)
        node: NodeInfo | None = info
        while d_active and node is not None:
            node.active += d_active
            node = node.parent
        for capped in info.caps if d_active else ():
            capped.capped_active += d_active
        self._child_changed(info, old_cat, info.category)

    def set_skipped(self, info: NodeInfo, skipped: bool) -> None:
        if info.skipped == skipped:
            return
        self._note(info)
        old_cat = info.category
        if skipped:
            self._add_pending(info, -info.pending, own=False)
        info.skipped = skipped
        if not skipped:
            self._add_pending(info, info.pending, own=False)
            node = info.parent
            while node is not None:  # a failure may be back behind a Serial's cursor
                node.cursor = 0
                node = node.parent
        self._child_changed(info, old_cat, info.category)
        if info.generates and info.parent is not None:
            for slot in info.parent.children:
                if isinstance(slot.node, Serial) and slot.node.awaiting_generation:
                    self._rederive(slot)

    def _rederive(self, info: NodeInfo) -> None:
        """Derive a container's state again after something beside its children changed."""
        state = info.derive()
        if state is not info.state:
            self._note(info)
            old_cat = info.category
            info.state = state
            self._child_changed(info, old_cat, info.category)

    def _add_pending(self, info: NodeInfo, d: int, own: bool = True) -> None:
        """Add `d` to the pending count of `info` (if `own`) and of the ancestors that see it."""
        if not d:
            return
        if own:
            info.pending += d
        node = info
        while not node.skipped and node.parent is not None:
            node = node.parent
            node.pending += d
            if d > 0:
                node.cursor = 0

    def _child_changed(self, child: NodeInfo, old: State | None, new: State | None) -> None:
        """`child` now counts as `new` in its parent, not `old`: re-derive the ancestors."""
        parent = child.parent
        while parent is not None and old != new:
            if old is not None:
                parent.counts[old] -= 1
            if new is not None:
                parent.counts[new] = parent.counts.get(new, 0) + 1
            if parent.serial and (old in FAILED) != (new in FAILED):
                failed_child_changed(parent, child, new in FAILED, self._note)
            state = parent.derive()
            if state is parent.state:
                return
            self._note(parent)
            old = parent.category
            parent.state = state
            new = parent.category
            child, parent = parent, parent.parent

    def reset(self, target: NodeInfo, only_failed: bool) -> list[TreeChanged]:
        """Execs below `target` back to pending (only failed ones, or all, ungrafting Lazy)."""
        changes = []
        if not only_failed:
            # Ungraft the Lazy nodes inside `target` (their Generate is reset too); a slot that
            # is `target` itself keeps its tree, and a slot inside an ungrafted one goes with it.
            slots = [i for i in target.walk() if i is not target and self._is_graft_slot(i)]
            for slot in slots:
                current = slot.node
                if isinstance(current, Serial) and current.awaiting_generation:
                    continue  # nothing grafted there
                if self.infos.get(slot.path) is not slot:
                    continue  # inside a slot ungrafted just before
                with detached():
                    placeholder = Serial()
                placeholder.awaiting_generation = True
                changes.append(self.replace(slot, placeholder))
            target = self.infos[target.path]
        for info in list(target.walk()):
            if info.exec and (not only_failed or info.state in FAILED):
                info.tries = 0
                self.set_exec_state(info, State.PENDING)
        return changes

    def _is_graft_slot(self, info: NodeInfo) -> bool:
        parent = info.parent
        if parent is None or info.node.name != "Execute":
            return False
        gen = parent.node.children.get("Generate")
        return isinstance(gen, Exec) and gen.generates

    def can_graft(self, generator: NodeInfo) -> bool:
        """A generated tree can replace `Execute` only while nothing runs in it."""
        return self._slot(generator).active == 0

    def _slot(self, generator: NodeInfo) -> NodeInfo:
        assert generator.parent is not None
        return self.infos[f"{generator.parent.path.rstrip('/')}/Execute"]

    def graft(self, generator: NodeInfo, tree: Node) -> TreeChanged:
        """Put a Lazy node's generated `tree` in place of its `Execute` placeholder."""
        return self.replace(self._slot(generator), tree)

    def replace(self, old: NodeInfo, node: Node) -> TreeChanged:
        parent = old.parent
        assert parent is not None and old.active == 0
        old_paths = []
        for info in old.walk():  # a path the new subtree reuses reports its change from here
            self._note(info)
            old_paths.append(info.path)
        parent.node.replace_child(old.node.name, node)
        new = self._build(node, parent, parent.group, parent.kid_caps)
        kept = {i.path for i in new.walk()}
        for path in old_paths:
            if path not in kept:
                del self.infos[path]
        parent.children[old.index] = new
        new.index = old.index
        before = 0 if old.skipped else old.pending
        after = 0 if new.skipped else new.pending
        self._add_pending(parent, after - before)
        self._child_changed(new, old.category, new.category)
        reblock(new, self._note)  # what a failure before it holds back, it holds back too
        return TreeChanged(new.path, node.to_json())

    # -- questions the rules ask ---------------------------------------------------------
    def action_target(self, info: NodeInfo) -> NodeInfo:
        """Actions on a node of a NEW reuse subtree act on the whole subtree."""
        return self.infos[info.group] if info.group else info

    def caps_over(self, info: NodeInfo) -> tuple[NodeInfo, ...]:
        """The capped ancestors whose caps hold `info`'s subtree."""
        return info.parent.kid_caps if info.parent is not None else ()

    def skipped_at_or_above(self, info: NodeInfo) -> bool:
        node: NodeInfo | None = info
        while node is not None:
            if node.skipped:
                return True
            node = node.parent
        return False
