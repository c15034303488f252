"""Carrying out the callbacks attached to nodes (model/callbacks.py) as a run's nodes change
state, in the process that owns the run.

An observer of the Execution: on each state change it finds the callbacks that fire (the
node's own, and `inherited` ones of its ancestors) and schedules them after the scheduler's
step (an observer must not act inside one). Actions (retry, skip, more memory) go through the
Execution as a user's would; notifications and Python callables run in a worker thread, so a
slow SMTP server never stalls the run. Every firing is published as a CallbackFired (the
Record, the store and the views show it); a failing callback is recorded, never raised.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import TYPE_CHECKING

from ..errors import NodeNotFound, PipelineError
from ..model.callbacks import ADDED, EVENTS, Callback
from ..model.states import FAILED, CallbackFired, NodeStatus, State, StateChanged

if TYPE_CHECKING:
    from ..model.nodes import Node
    from .runner import Execution

__all__ = ["CallbackRunner", "has_callbacks", "max_mem"]


def max_mem() -> float:
    """The most memory (GB) retry_with_double_mem asks for: $CONDUCTO_NB_MAX_MEM, else this
    machine's."""
    given = os.environ.get("CONDUCTO_NB_MAX_MEM")
    if given:
        return float(given)
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        return 64.0


def _notify() -> ModuleType:
    """notify.py (smtplib, email): imported when a notifying callback first fires, not by
    every run."""
    from . import notify

    return notify


#: What the acting callbacks (below) say when they acted and counted it: read back when a
#: run is adopted.
_ACTED = re.compile(r"^(retry \d+ of \d+|out of memory: retried)")


def _fires(event: str, state: State) -> bool:
    wanted = EVENTS[event]
    if wanted is None:
        return True
    if wanted == "error":
        return state in FAILED
    return state.value == wanted


class CallbackRunner:
    """One per Execution whose tree has callbacks."""

    def __init__(self, execution: Execution) -> None:
        self.ex = execution
        #: (path, callback's label) -> times it acted (retried); a run adopted from a dead
        #: owner counts what the owner's callbacks did, so a retry(3) never retries a 4th time.
        self.fired: dict[tuple[str, str], int] = {}
        for done in execution.record.callbacks():
            if done.ok and done.message and _ACTED.match(done.message):
                key = (done.path, done.label)
                self.fired[key] = self.fired.get(key, 0) + 1
        self.pending: list[tuple[Node, Callback, str, str, NodeStatus]] = []
        self.in_flight = 0  # notifications and Python callables running in threads
        #: (path, id of callback) -> its last send: one callback's sends for one node go out
        #: in the order they fired (a late "pending" must not follow "success" to GitHub).
        self._last_send: dict[tuple[str, int], asyncio.Future[None]] = {}
        self.firing = False  # between a retry's skip and its run, the run is not idle
        self._looked = (-1, True)  # (ADDED when the tree was looked at, whether it had any)

    @property
    def busy(self) -> bool:
        return bool(self.pending) or self.in_flight > 0 or self.firing

    def __call__(self, event: object) -> None:
        """An observer: only notes what fires (it runs inside a scheduler step)."""
        if not isinstance(event, StateChanged) or event.old.state is event.new.state:
            return
        if not self._tree_has_callbacks():
            return
        for owner, callback, name in self._matching(event.path, event.new.state):
            self.pending.append((owner, callback, name, event.path, event.new))

    def fire_pending(self) -> None:
        """After the scheduler's step: carry out what fired (a retry's rerun is a new step)."""
        if self.firing:
            return  # an action of a callback being fired: the outer loop takes what it adds
        self.firing = True
        try:
            while self.pending:
                self._fire(*self.pending.pop(0))
        finally:
            self.firing = False

    def _tree_has_callbacks(self) -> bool:
        """Whether any node of the run's tree has a callback, looked at again only after one
        was added anywhere (a grafted tree's are added as it is read): most trees have none."""
        added = ADDED[0]
        if self._looked[0] != added:
            self._looked = (added, any(n.callbacks for n in self.ex.scheduler.root.walk()))
        return self._looked[1]

    def _matching(self, path: str, state: State) -> Iterator[tuple[Node, Callback, str]]:
        try:
            node: Node | None = self.ex.scheduler.root[path]
        except NodeNotFound:
            return
        own = True
        while node is not None:
            for name, callback in node.callbacks:
                if (own or callback.inherited) and _fires(name, state):
                    yield node, callback, name
            node, own = node.parent, False

    # -- firing -----------------------------------------------------------------------------
    def _fire(self, owner: Node, cb: Callback, event: str, path: str, status: NodeStatus) -> None:
        def say(message: str, ok: bool | None = True) -> None:
            self.ex._publish(CallbackFired(path, event, cb.label, time.time(), ok, message))

        try:
            action = _ACTIONS.get(cb.name)
            if action is not None:
                say(action(self, cb, path, status))
            elif cb.name == "python" or cb.name in _notify().SENDERS:
                say("sending" if cb.name != "python" else "called", None)
                self._in_thread(cb, event, path, status, say)
            else:
                say(f"unknown callback {cb.name!r}: nothing done", False)
        except PipelineError as e:
            say(f"failed: {e}", False)
        except Exception as e:  # a callback read back malformed: recorded, never raised
            say(f"failed: {type(e).__name__}: {e}"[:500], False)

    def _in_thread(
        self,
        cb: Callback,
        event: str,
        path: str,
        status: NodeStatus,
        say: Callable[[str, bool | None], None],
    ) -> None:
        loop = asyncio.get_running_loop()
        notify = _notify()
        summary = notify.summary(self.ex, path, status, event)

        def work() -> str:
            if cb.name == "python":
                from .runs import load  # the live handle this process holds

                result = cb.callable()(load(self.ex.id)[path])
                return f"returned {result!r}"[:300]
            said: str = notify.SENDERS[cb.name](cb, summary)
            return said

        key = (path, id(cb))
        previous = self._last_send.get(key)
        this: asyncio.Future[None] = loop.create_future()
        self._last_send[key] = this

        async def run() -> None:
            try:
                if previous is not None:
                    await previous
                said = await loop.run_in_executor(None, work)
            except Exception as e:  # a callback's failure is recorded, never raised
                say(f"failed: {type(e).__name__}: {e}"[:500], False)
            else:
                say(said, True)
            finally:
                this.set_result(None)
                if self._last_send.get(key) is this:
                    del self._last_send[key]
                self.in_flight -= 1
                self.ex.refresh_idle()

        self.in_flight += 1
        self.ex._background(run())

    def _times(self, cb: Callback, path: str) -> int:
        return self.fired.get((path, cb.label), 0)

    def _count(self, cb: Callback, path: str) -> int:
        n = self.fired[(path, cb.label)] = self._times(cb, path) + 1
        return n


# -- the callbacks that act on the run -------------------------------------------------------
def _retry(r: CallbackRunner, cb: Callback, path: str, status: NodeStatus) -> str:
    limit = int(cb.kwargs["max_num_retries"])
    if r._times(cb, path) >= limit:
        if cb.name == "retry_then_skip":
            r.ex.act("skip", path)
            r.ex.act("run", "/")  # what the failure held back goes on
            return f"{limit} retries used: skipped {path}"
        return f"{limit} retries used: not retried"
    n = r._count(cb, path)
    r.ex.act("rerun", path)
    return f"retry {n} of {limit}"


def _double_mem(r: CallbackRunner, cb: Callback, path: str, status: NodeStatus) -> str:
    limit = int(cb.kwargs["max_num_retries"])
    if r._times(cb, path) >= limit:
        return f"{limit} retries used: not retried"
    mem = float(r.ex.scheduler.root[path].get_param("mem"))
    cap = max_mem()
    if mem >= cap:
        return f"mem={mem:g} GB is the most there is ({cap:g} GB): not retried"
    new = min(mem * 2, cap)
    n = r._count(cb, path)
    r.ex.set_param(path, "mem", new)
    r.ex.act("rerun", path)
    return f"retry {n} of {limit} with mem={new:g} GB (was {mem:g})"


def _memory_errors(r: CallbackRunner, cb: Callback, path: str, status: NodeStatus) -> str:
    attempts = r.ex.record.attempts(path)
    last = attempts[-1] if attempts else None
    if last is None or "out of memory" not in (last.message or ""):
        return "not an out-of-memory failure: not retried"
    low, high = (float(x) for x in cb.kwargs["mem_limits"])
    took = last.duration or 0.0
    if took > float(cb.kwargs["max_duration"]):
        return f"the attempt took {took:.0f}s, over max_duration: not retried"
    mem = float(r.ex.scheduler.root[path].get_param("mem"))
    new = mem * 2
    if new > high:
        return f"mem={new:g} GB would pass the limit of {high:g} GB: not retried"
    if mem >= low and r._times(cb, path) >= 1:
        return f"already retried above {low:g} GB: not retried"
    r._count(cb, path)
    r.ex.set_param(path, "mem", new)
    r.ex.act("rerun", path)
    return f"out of memory: retried with mem={new:g} GB (was {mem:g})"


def _skip_some(r: CallbackRunner, cb: Callback, path: str, status: NodeStatus) -> str:
    limit = int(cb.kwargs["max_num_errors"])
    failed = [
        p
        for p, s in r.ex.scheduler.statuses().items()
        if (p == path or p.startswith(path.rstrip("/") + "/"))
        and s.state in FAILED
        and not r.ex.scheduler.root[p].children
    ]
    if len(failed) > limit:
        return f"{len(failed)} failed nodes, over {limit}: nothing skipped"
    for p in failed:
        r.ex.act("skip", p)
    r.ex.act("run", "/")  # what the failures held back goes on
    return f"skipped {', '.join(failed)}" if failed else "no failed node to skip"


_ACTIONS: dict[str, Callable[[CallbackRunner, Callback, str, NodeStatus], str]] = {
    "retry": _retry,
    "retry_then_skip": _retry,
    "retry_with_double_mem": _double_mem,
    "handle_memory_errors": _memory_errors,
    "skip_some_errors": _skip_some,
}


def has_callbacks(root: Node) -> bool:
    return any(n.callbacks for n in root.walk())
