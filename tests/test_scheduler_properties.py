"""Property tests of the scheduler core: random trees, random outcomes, random user actions.

After every `handle()` the invariants below are checked against a model written here from the
rules, independently of the core's incremental bookkeeping:

- a Serial starts a child only once every earlier (unskipped) child finished without an error
  that stops it, and while no later child is at work (unless the user ran that child itself);
- max_concurrent, and one Exec at a time in a NEW reuse subtree, are never exceeded;
- every parent's state is its derivation from its children's statuses;
- only net changes are published, each once; stale reports change nothing;
- nothing starts inside a killed subtree until it is run again; a rejected action changes nothing;
- a fresh Scheduler restoring the statuses of a run (a new owner) shows the same, and goes on;
- the run ends (idle, nothing queued or running) within a bounded number of steps, and when it
  ends every pending Exec is explained by a Serial stopped at an earlier failure.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

import conducto_nb as co
from conducto_nb.model.states import ACTIVE, FAILED, FINISHED, NodeStatus, State, StateChanged
from conducto_nb.run.scheduler import (
    Action,
    Event,
    ExecFinished,
    ExecStarted,
    Instruction,
    KillExec,
    Rejected,
    Scheduler,
    StartExec,
)

NEW = co.ContainerReuseContext.NEW
GLOBAL = co.ContainerReuseContext.GLOBAL
OUTCOMES = [State.DONE, State.DONE, State.DONE, State.ERROR, State.WORKER_ERROR, State.KILLED]


# -- random trees -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Spec:
    kind: str  # exec, serial, parallel, lazy
    params: tuple[tuple[str, Any], ...] = ()
    children: tuple[Spec, ...] = ()
    generated: Spec | None = None  # what a lazy node's Generate returns


@st.composite
def params_for(draw: st.DrawFn, kind: str) -> tuple[tuple[str, Any], ...]:
    p: dict[str, Any] = {}
    if draw(st.integers(0, 11)) == 0:
        p["skip"] = True
    if draw(st.integers(0, 5)) == 0:
        p["suppress_errors"] = True
    if draw(st.integers(0, 4)) == 0:
        p["retries"] = draw(st.integers(1, 2))
    if kind != "exec" and draw(st.integers(0, 3)) == 0:
        p["max_concurrent"] = draw(st.integers(1, 3))
    if kind in ("serial", "lazy") and draw(st.booleans()):
        p["stop_on_error"] = False
    if kind == "serial":
        reuse = draw(st.integers(0, 9))
        if reuse <= 1:
            p["container_reuse_context"] = NEW if reuse == 0 else GLOBAL
    return tuple(sorted(p.items()))


def exec_spec() -> st.SearchStrategy[Spec]:
    return st.builds(Spec, st.just("exec"), params_for("exec"))


def extend(inner: st.SearchStrategy[Spec], min_kids: int = 0) -> st.SearchStrategy[Spec]:
    @st.composite
    def container(draw: st.DrawFn) -> Spec:
        kind = draw(st.sampled_from(["serial", "serial", "parallel", "parallel", "lazy"]))
        params = draw(params_for(kind))
        if kind == "lazy":
            return Spec(kind, params, generated=draw(inner))
        kids = draw(st.lists(inner, min_size=min_kids, max_size=max(4, min_kids)))
        return Spec(kind, params, tuple(kids))

    return container()


TREES = st.recursive(exec_spec(), extend, max_leaves=12)
ROOTS = extend(TREES, min_kids=3)  # a Serial, Parallel or Lazy at the root


def _never_called() -> co.Node:
    raise AssertionError("the core never runs a command")


def build(spec: Spec, lazies: dict[co.Node, Spec], name: str | None = None) -> co.Node:
    kw: dict[str, Any] = dict(spec.params)
    if name is not None:
        kw["name"] = name
    if spec.kind == "exec":
        return co.Exec("true", **kw)
    if spec.kind == "lazy":
        lazy = co.Lazy(_never_called, **kw)
        assert spec.generated is not None
        lazies[lazy] = spec.generated
        return lazy
    cls = co.Serial if spec.kind == "serial" else co.Parallel
    with cls(**kw) as node:
        for i, kid in enumerate(spec.children):
            build(kid, lazies, f"c{i}")
    return node


# -- the model: the rules, recomputed from scratch --------------------------------------------
def at_or_below(path: str, top: str) -> bool:
    return top == "/" or path == top or path.startswith(top + "/")


def ancestors(node: co.Node) -> Iterator[co.Node]:
    """The node itself, then its parents up to the root."""
    n: co.Node | None = node
    while n is not None:
        yield n
        n = n.parent


def reuse_group(node: co.Node) -> str | None:
    for n in ancestors(node):
        reuse = n.own_params.get("container_reuse_context")
        if reuse is NEW:
            return n.path
        if reuse is GLOBAL:
            return None
    return None


def derived(node: co.Node, statuses: dict[str, NodeStatus]) -> State:
    states = []
    for kid in node.children.values():
        st_ = statuses[kid.path]
        if st_.skipped:
            continue
        failed = st_.state in (State.ERROR, State.WORKER_ERROR, State.KILLED)
        state = State.PENDING if st_.state is State.BLOCKED else st_.state  # pending, held back
        states.append(State.DONE if failed and kid.own_params.get("suppress_errors") else state)
    if State.RUNNING in states:
        return State.RUNNING
    if State.QUEUED in states:
        return State.QUEUED
    if any(s in (State.ERROR, State.WORKER_ERROR, State.KILLED) for s in states):
        return State.DONE if node.own_params.get("suppress_errors") else State.ERROR
    awaiting = isinstance(node, co.Serial) and node.awaiting_generation
    if awaiting and node.parent is not None:  # nothing fills it once its Generate is skipped
        gen = node.parent.children.get("Generate")
        awaiting = gen is None or not statuses[gen.path].skipped
    if awaiting or State.PENDING in states:
        return State.PENDING
    return State.DONE


def blocker(node: co.Node, statuses: dict[str, NodeStatus]) -> str | None:
    """The failed earlier step of `node`, or of its nearest ancestor, that stops a Serial
    before it: what holds `node` back, by the rule written out plainly."""
    while node.parent is not None:
        serial = node.parent
        if isinstance(serial, co.Serial):
            for kid in serial.children.values():
                if kid is node:
                    break
                status = statuses[kid.path]
                if not status.skipped and stops(serial, kid, status):
                    return kid.path
        node = serial
    return None


def stops(serial: co.Node, kid: co.Node, status: NodeStatus) -> bool:
    """A failure of `kid` that stops the Serial `serial` from going on."""
    return (
        status.state in FAILED
        and not kid.own_params.get("suppress_errors")
        and serial.own_params.get("stop_on_error", True)
    )


def resumed_by(node: co.Node, statuses: dict[str, NodeStatus]) -> co.Node | None:
    """The highest Serial a failure at or in `node` stopped with work still to do after it,
    each one above stopped at the one below in turn: what rerunning `node` resumes."""

    def waiting(kid: co.Node) -> bool:
        return any(
            statuses[n.path].state in (State.PENDING, State.BLOCKED)
            and not statuses[n.path].skipped
            for n in kid.walk()
            if isinstance(n, co.Exec)
        )

    top, child, parent = None, node, node.parent
    while parent is not None and statuses[child.path].state in FAILED:
        kids = list(parent.children.values())
        later = kids[kids.index(child) + 1 :]
        if isinstance(parent, co.Serial) and parent.stop_on_error and any(map(waiting, later)):
            top = parent
        child, parent = parent, parent.parent
    return top


def skipped_at_or_above(node: co.Node, statuses: dict[str, NodeStatus]) -> bool:
    return any(statuses[n.path].skipped for n in ancestors(node))


def active_below(node: co.Node, statuses: dict[str, NodeStatus], in_container: bool = False) -> int:
    """Queued or running Execs below `node` (`in_container`: those in its NEW container)."""
    return sum(
        1
        for n in node.walk()
        if isinstance(n, co.Exec)
        and statuses[n.path].state in ACTIVE
        and (not in_container or not escapes_to_pools(n, node))
    )


def escapes_to_pools(node: co.Node, container: co.Node) -> bool:
    """A GLOBAL node between `node` and the NEW `container` above it."""
    n: co.Node | None = node
    while n is not None and n is not container:
        if n.own_params.get("container_reuse_context") is GLOBAL:
            return True
        n = n.parent
    return False


class Harness:
    """Feeds a Scheduler events and checks every answer against the model."""

    def __init__(self, spec: Spec | None, taken_over: Harness | None = None) -> None:
        self.lazies: dict[co.Node, Spec] = {}
        if taken_over is None:
            assert spec is not None
            self.s = Scheduler(build(spec, self.lazies))
        else:  # the same pipeline, read back from its JSON by a new process
            old = taken_over.s
            self.s = Scheduler(co.Node.from_json(old.root.to_json()))
            self.s.restore(old.statuses(), {p: old.attempts(p) for p in old.statuses()})
            for lazy, generated in taken_over.lazies.items():
                if lazy.root is old.root:
                    self.lazies[self.s.root[lazy.path]] = generated
        self.seq = 0
        self.runs: list[tuple[int, str]] = []  # accepted run / rerun targets, in order
        self.holds: dict[str, int] = {}  # killed subtrees -> when
        self.steps = 0

    @property
    def root(self) -> co.Node:
        return self.s.root

    def execs(self) -> list[co.Exec]:
        return [n for n in self.root.walk() if isinstance(n, co.Exec)]

    def active(self) -> list[str]:
        statuses = self.s.statuses()
        return [e.path for e in self.execs() if statuses[e.path].state in ACTIVE]

    def target(self, path: str) -> str:
        return reuse_group(self.root[path]) or path

    # -- feeding events -----------------------------------------------------------------------
    def handle(self, event: Event) -> list[Instruction]:
        self.seq += 1
        self.steps += 1
        before = self.s.statuses()
        out = self.s.handle(event)
        note(f"{event!r} -> {[i for i in out if not isinstance(i, StateChanged)]!r}")
        self.check(event, out, before, self.s.statuses())
        return out

    def act(self, name: str, path: str) -> list[Instruction]:
        statuses = self.s.statuses()
        if path not in statuses:
            out = self.handle(Action(name, path))
            assert len(out) == 1 and isinstance(out[0], Rejected)
            return out
        target = self.target(path)
        node = self.root[target]
        busy = active_below(node, statuses) > 0
        expect_rejected = {
            "run": skipped_at_or_above(node, statuses),
            "rerun": skipped_at_or_above(node, statuses) or (busy and target == reuse_group(node)),
            "reset": busy,
            "skip": busy,
            "unskip": False,
            "kill": False,
        }[name]
        if not expect_rejected:  # the model first: the step's own starts are checked by it
            if name in ("run", "rerun"):
                # a rerun of a failure also resumes the Serial it stopped (issue 13)
                resumed = resumed_by(node, statuses) if name == "rerun" else None
                for top in (target, *([resumed.path] if resumed is not None else [])):
                    self.runs.append((self.seq + 1, top))
                    self.holds = {h: t for h, t in self.holds.items() if not at_or_below(h, top)}
            elif name == "kill":
                self.holds[target] = self.seq + 1
        out = self.handle(Action(name, path))
        if expect_rejected:
            assert len(out) == 1 and isinstance(out[0], Rejected), (name, path, out)
            assert self.s.statuses() == statuses
            return out
        assert not any(isinstance(i, Rejected) for i in out), (name, path, out)
        if name == "kill":
            expected = {
                e.path
                for e in self.execs()
                if at_or_below(e.path, target) and statuses[e.path].state in ACTIVE
            }
            assert {i.path for i in out if isinstance(i, KillExec)} == expected
        if name == "skip":
            assert self.s.status(target).skipped
        if name == "unskip":
            assert not self.s.status(target).skipped
        return out

    def report(self, path: str, outcome: State | None, result: bool = True) -> list[Instruction]:
        attempt = self.s.attempts(path)
        if outcome is None:
            return self.handle(ExecStarted(path, attempt))
        node = self.root[path]
        made = None
        if isinstance(node, co.Exec) and node.generates and result:
            parent = node.parent
            assert parent is not None
            made = build(self.lazies[parent], self.lazies)
        return self.handle(ExecFinished(path, attempt, outcome, made))

    def stale(self, path: str, outcome: State) -> None:
        before = self.s.statuses()
        for attempt in (self.s.attempts(path) - 1, self.s.attempts(path) + 1):
            assert self.handle(ExecFinished(path, attempt, outcome)) == []
            assert self.handle(ExecStarted(path, attempt)) == []
        assert self.s.statuses() == before

    # -- the invariants -------------------------------------------------------------------------
    def check(
        self,
        event: Event,
        out: list[Instruction],
        before: dict[str, NodeStatus],
        after: dict[str, NodeStatus],
    ) -> None:
        nodes = {n.path: n for n in self.root.walk()}
        assert set(after) == set(nodes), "statuses and tree disagree"

        # every parent is the derivation of its children; a pending node that a failure
        # holds back shows blocked, naming that failure
        for path, node in nodes.items():
            status = after[path]
            held = None if status.skipped else blocker(node, after)
            if not isinstance(node, co.Exec):
                state = derived(node, after)
                shown = State.BLOCKED if state is State.PENDING and held else state
                assert status.state is shown, (path, status, held)
            if status.state in (State.PENDING, State.BLOCKED) and not status.skipped:
                assert (status.state is State.BLOCKED) == (held is not None), (path, status)
                assert status.blocked_by == held, (path, status)

        # caps: max_concurrent, and one Exec at a time per NEW reuse subtree (a GLOBAL
        # subtree inside it runs in the pools: the container's cap does not hold it)
        for node in nodes.values():
            cap = node.own_params.get("max_concurrent")
            container = node.own_params.get("container_reuse_context") is NEW
            if container:
                cap = 1 if cap is None else min(cap, 1)
            if cap is not None:
                active = active_below(node, after, in_container=container)
                assert active <= cap, (node.path, cap)

        # only net changes, each once, and all of them
        reported = [i for i in out if isinstance(i, StateChanged)]
        assert len({c.path for c in reported}) == len(reported), "a path reported twice"
        for c in reported:
            assert c.old != c.new and c.new == after[c.path]
            assert c.old == before.get(c.path, NodeStatus())  # a new node starts pending
        changed = {p for p in before.keys() & after.keys() if before[p] != after[p]}
        assert {c.path for c in reported if c.path in before} == changed

        # idle exactly when nothing is queued or running
        assert self.s.idle == (not any(after[e].state in ACTIVE for e in self._exec_paths(nodes)))

        fresh: set[str] = set()
        for i in out:
            if isinstance(i, StartExec):
                node = nodes[i.path]
                assert isinstance(node, co.Exec) and i.node is node
                assert i.path not in fresh, "started twice in one step"
                fresh.add(i.path)
                assert i.attempt == self.s.attempts(i.path)
                assert after[i.path].state is State.QUEUED
                assert i.reuse_group == reuse_group(node)
                assert not skipped_at_or_above(node, after)
                self.check_not_held(i.path)
                if before.get(i.path, NodeStatus()).state not in ACTIVE:  # not a retry
                    self.check_serial_order(node, after)
            elif isinstance(i, KillExec):
                assert isinstance(event, Action) and event.name == "kill"
                assert before[i.path].state in ACTIVE and i.attempt == self.s.attempts(i.path)

    @staticmethod
    def _exec_paths(nodes: dict[str, co.Node]) -> list[str]:
        return [p for p, n in nodes.items() if isinstance(n, co.Exec)]

    def check_not_held(self, path: str) -> None:
        for hold, when in self.holds.items():
            if at_or_below(path, hold):
                reopened = any(
                    t > when and at_or_below(r, hold) and r != hold and at_or_below(path, r)
                    for t, r in self.runs
                )
                assert reopened, f"{path} started inside killed {hold}"

    def user_ran_inside(self, node: co.Node) -> bool:
        return any(at_or_below(r, node.path) for _, r in self.runs)

    def check_serial_order(self, node: co.Node, after: dict[str, NodeStatus]) -> None:
        child = node
        for serial in list(ancestors(node))[1:]:
            if isinstance(serial, co.Serial) and not any(
                at_or_below(r, child.path) and at_or_below(node.path, r) for _, r in self.runs
            ):
                kids = list(serial.children.values())
                k = kids.index(child)
                for earlier in kids[:k]:
                    status = after[earlier.path]
                    if status.skipped or self.user_ran_inside(earlier):
                        continue  # (the user's own run in it may have started it again)
                    assert status.state in FINISHED, f"{node.path} before {earlier.path}"
                    assert not stops(serial, earlier, status), f"{node.path} ran past error"
                for later in kids[k + 1 :]:
                    if not self.user_ran_inside(later):
                        assert after[later.path].state not in ACTIVE, f"{node.path} with {later}"
            child = serial

    # -- the end of a run ---------------------------------------------------------------------
    def check_finished(self) -> None:
        """Idle, and every pending Exec is held back by a Serial stopped at an earlier error
        (after a run that no kill or skip interfered with)."""
        statuses = self.s.statuses()
        assert self.s.idle and not self.active()
        for ex in self.execs():
            if statuses[ex.path].state is not State.PENDING or skipped_at_or_above(ex, statuses):
                continue
            explained = False
            child: co.Node = ex
            for serial in list(ancestors(ex))[1:]:
                if isinstance(serial, co.Serial):
                    kids = list(serial.children.values())
                    for earlier in kids[: kids.index(child)]:
                        status = statuses[earlier.path]
                        explained |= not status.skipped and stops(serial, earlier, status)
                child = serial
            assert explained, f"{ex.path} left pending for no reason"


def drive(h: Harness, data: st.DataObject, actions: int) -> None:
    """Report on random active Execs (and take random actions) until the pipeline is idle."""
    bound = 3000
    while h.steps < bound:
        active = h.active()
        if actions and (not active or data.draw(st.integers(0, 5)) == 0):
            actions -= 1
            paths = sorted(h.s.statuses())
            name = data.draw(st.sampled_from(["kill", "rerun", "skip", "unskip", "reset", "run"]))
            path = data.draw(st.sampled_from([*paths, "/no/such/node"]))
            h.act(name, path)
            continue
        if not active:
            break
        path = data.draw(st.sampled_from(active))
        outcome = data.draw(st.sampled_from(OUTCOMES))
        if h.s.status(path).state is State.QUEUED and data.draw(st.booleans()):
            h.report(path, None)
        elif data.draw(st.integers(0, 9)) == 9:  # (9: shrinking heads for 0, real reports)
            h.stale(path, outcome)
        else:
            h.report(path, outcome, result=data.draw(st.integers(0, 9)) > 0)
    assert h.steps < bound, "the run did not end"
    assert h.s.idle and not h.active()


SETTINGS = settings(
    max_examples=700,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@SETTINGS
@given(spec=ROOTS, data=st.data())
def test_a_run_obeys_the_rules_and_ends(spec: Spec, data: st.DataObject) -> None:
    h = Harness(spec)
    h.act("run", "/")
    drive(h, data, actions=0)
    h.check_finished()


@SETTINGS
@given(spec=ROOTS, data=st.data())
def test_random_actions_during_a_run_keep_the_rules(spec: Spec, data: st.DataObject) -> None:
    h = Harness(spec)
    h.act("run", "/")
    drive(h, data, actions=data.draw(st.integers(1, 10)))
    if not h.s.status("/").skipped:  # after any chaos, a rerun still runs what it should
        h.act("rerun", "/")
        drive(h, data, actions=0)
        h.check_finished()
    taken = Harness(None, taken_over=h)  # a new owner restores it exactly, and goes on with it
    assert taken.s.statuses() == h.s.statuses() and taken.s.idle
    drive(taken, data, actions=data.draw(st.integers(0, 3)))


def test_ten_thousand_execs_in_one_parallel_run_quickly() -> None:
    with co.Parallel(max_concurrent=64) as root:
        for i in range(10_000):
            co.Exec("true", name=f"e{i}")
    _run_to_the_end(root)


def test_ten_thousand_execs_in_one_serial_run_to_the_end() -> None:
    with co.Serial() as root:
        for i in range(10_000):
            co.Exec("true", name=f"e{i}")
    _run_to_the_end(root)


def _run_to_the_end(root: co.Node) -> None:
    s = Scheduler(root)
    todo = [i for i in s.handle(Action("run", "/")) if isinstance(i, StartExec)]
    finished = 0
    while todo:
        start = todo.pop()
        s.handle(ExecStarted(start.path, start.attempt))
        out = s.handle(ExecFinished(start.path, start.attempt, State.DONE))
        todo += [i for i in out if isinstance(i, StartExec)]
        finished += 1
    assert finished == 10_000 and s.idle and s.status("/").state is State.DONE
