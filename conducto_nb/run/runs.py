"""The handle to a pipeline run, live in this process or loaded from the store:
`run["/test/unit"]` (a NodeResult, results.py), `run.rerun()`, `co.load(pipeline_id)`.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ActionError
from ..model.nodes import Node
from ..model.serialize import tree_from_json
from ..model.states import FAILED, State
from .loop import background_loop
from .record import Record
from .results import ImageResult, NodeResult
from .store_observer import loaded, loaded_attempts

if TYPE_CHECKING:
    from ..store.pipelines import Store
    from .runner import Execution

__all__ = [
    "LIVE",
    "Run",
    "close_shared_stores",
    "hold",
    "last_run",
    "load",
    "read_output_from_store",
    "record_from_store",
    "shared_store",
]


class Run:
    """A pipeline run, live in this process or loaded from the store."""

    def __init__(self, record: Record, execution: Execution | None = None) -> None:
        self.record = record
        self._execution = execution
        if execution is not None:
            with LIVE_LOCK:
                _HANDLES.setdefault(record.id, self)
            _note_last(self)

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def backend(self) -> str:
        """The backend this run executes on (`local`, `docker`...), as chosen at its start."""
        if self._execution is not None:
            return self._execution.backend.name
        return self.record.backend

    @property
    def owned_here(self) -> bool:
        """This process runs it (started it, or adopted it when its owner died)."""
        return self._execution is not None

    @property
    def tree(self) -> Node:
        """The tree as it runs (with Lazy subtrees grafted in)."""
        if self._execution is not None:
            return self._execution.scheduler.root
        return tree_from_json(self.record.tree)

    @property
    def state(self) -> State:
        return self.record.status("/").state

    @property
    def done(self) -> bool:
        """Nothing runs and nothing waits to start."""
        return self.record.idle

    def __getitem__(self, path: str) -> NodeResult:
        if not path.startswith("/"):
            path = "/" + path
        path = path.rstrip("/") or "/"
        if path not in self.record.statuses():
            self.tree[path]  # NodeNotFound (a KeyError) naming what exists there, if missing
        return NodeResult(self, path)

    @property
    def images(self) -> list[ImageResult]:
        """The co.Images this run uses, with their build states and logs."""
        return [ImageResult.of(self.record, s) for s in self.record.images()]

    def failed(self) -> list[str]:
        """Paths of the Execs whose last attempt failed."""
        tree = self.tree
        return [
            n.path
            for n in tree.walk()
            if not n.children and n.kind == "exec" and self.record.status(n.path).state in FAILED
        ]

    def wait(self, timeout: float | None = None) -> Run:
        """Block until the run is idle (and, for a run of this process, recorded in the store,
        so another process reads all of it). Ctrl-C (a kernel interrupt) kills the run cleanly."""
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while not self.record.wait_idle(0.1 if self._execution else 0):
                if self._execution is None:
                    time.sleep(0.2)
                    self.refresh()
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(f"pipeline {self.id} still running after {timeout}s")
        except KeyboardInterrupt:
            self.stop()
            raise
        ex = self._execution
        if ex is not None and ex.writer is not None:
            ex.writer.flush()  # when wait() returns, what the run did is in the store too
        return self

    def refresh(self) -> Run:
        """Re-read a run owned by another process from the store (a live run need not)."""
        if self._execution is None:
            self.record = record_from_store(self.id)
        return self

    # -- actions: here when this process owns the run, else through the owner's socket -----
    def _act(self, name: str, path: str) -> Run:
        if self._execution is None:
            from .adoption import act_elsewhere  # lazy: adoption imports this module

            adopted = act_elsewhere(self.id, name, path)
            if adopted is None:
                return self.refresh()
            self._become(adopted)
        assert self._execution is not None
        background_loop().call(self._execution.act, name, path)
        return self

    def _become(self, adopted: Run) -> None:
        """This handle is the live run now (this process adopted it)."""
        self.record, self._execution = adopted.record, adopted._execution
        with LIVE_LOCK:
            _HANDLES[self.id] = self

    def rerun(self, path: str = "/") -> Run:
        """Reset what failed or was killed below `path`, and run it again."""
        return self._act("rerun", path)

    def rebuild_images(self) -> Run:
        """Build this run's co.Images again when its nodes next need them (a rerun otherwise
        uses the images the run built: the code it ran). A copy_dir image takes the folder as
        it is now; a git image stays at the commit the run pinned."""
        return self._act("rebuild_images", "/")

    def reset(self, path: str = "/") -> Run:
        return self._act("reset", path)

    def skip(self, path: str) -> Run:
        return self._act("skip", path)

    def unskip(self, path: str) -> Run:
        return self._act("unskip", path)

    def kill(self, path: str = "/") -> Run:
        return self._act("kill", path)

    def run(self, path: str = "/") -> Run:
        return self._act("run", path)

    def modify(
        self, path: str, *, command: str | None = None, env: Mapping[str, Any] | None = None
    ) -> Run:
        """Give the Exec at `path` a new shell command and/or its own `env`, in the running
        tree, and run it again (Conducto's "modify"). A run another live process owns is
        modified there, through its control socket; one whose owner died is adopted first."""
        if self._execution is None:
            from .adoption import act_elsewhere  # lazy: adoption imports this module

            args = {"command": command, "env": dict(env) if env is not None else None}
            adopted = act_elsewhere(self.id, "modify", path, args)
            if adopted is None:
                return self.refresh()
            self._become(adopted)
        assert self._execution is not None
        background_loop().call(self._execution.modify, path, command, env)
        return self

    def observe(self, callback: Callable[[object], None]) -> Callable[[], None]:
        """Call `callback(event)` for every event of this live run from now on (StateChanged,
        TreeChanged, OutputChunk, AttemptStarted, AttemptEnded); returns the function that
        stops it. It runs on the background loop, inside a scheduler step: it must only record
        and return. A run another process owns sends no events: `refresh()` it instead."""
        ex = self._execution
        if ex is None:
            raise ActionError(f"pipeline {self.id} runs in another process: refresh() it")

        def add() -> None:
            ex.observers = [*ex.observers, callback]  # a new list: never one being iterated

        def remove() -> None:
            ex.observers = [o for o in ex.observers if o is not callback]

        background_loop().call(add)
        return lambda: background_loop().call(remove)

    def stop(self, timeout: float = 30) -> None:
        """Kill every running Exec and wait until the kills are recorded."""
        if self._execution is not None:
            background_loop().submit(self._execution.stop()).result(timeout)
        else:
            from .adoption import act_elsewhere  # lazy: adoption imports this module

            act_elsewhere(self.id, "stop", "/")
            self.refresh()

    def pretty(self) -> str:
        return self.tree.pretty({p: s.label for p, s in self.record.statuses().items()})

    def __repr__(self) -> str:
        return f"<Run {self.id} {self.record.status('/').label}>\n{self.pretty()}"

    # -- display in a notebook: the live graph (conducto_nb.widget, imported only here) --------
    def _ipython_display_(self) -> None:
        from ..widget import show  # up a layer: the graph is the widget's

        _note_last(self)
        show(self)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        from ..widget import mimebundle  # up a layer: the graph is the widget's

        _note_last(self)
        return mimebundle(self)


# -- loading --------------------------------------------------------------------------------
#: Runs of this process, by id, while something holds them: `load` gives their live handle.
#: A run is held while it is busy (_BUSY) and while a user's handle or a graph refers to it;
#: an idle run nobody refers to is freed (the store keeps all of it), so a kernel that ran a
#: thousand pipelines does not hold a thousand.
LIVE: weakref.WeakValueDictionary[str, Execution] = weakref.WeakValueDictionary()
LIVE_LOCK = threading.RLock()  # load() makes a Run (which registers itself) while holding it
_HANDLES: weakref.WeakValueDictionary[str, Run] = weakref.WeakValueDictionary()  # `load` gives
# back the very handle the caller still holds
_BUSY: set[Execution] = set()  # touched on the background loop only
#: The id of the run last started or shown in this process: what `%co_debug PATH` means by
#: default (an id, not the run: an idle run nobody holds is still let go).
_LAST: list[str] = []


def _note_last(run: Run) -> None:
    with LIVE_LOCK:
        _LAST[:] = [run.id]


def last_run() -> Run | None:
    """The run this process last started or showed as a cell's output, if any."""
    with LIVE_LOCK:
        last = _LAST[0] if _LAST else None
    return None if last is None else load(last)


def hold(execution: Execution) -> None:
    """Register a run of this process, held while it is busy."""

    def busy(idle: bool) -> None:
        (_BUSY.discard if idle else _BUSY.add)(execution)

    execution.on_idle.append(busy)
    with LIVE_LOCK:
        LIVE[execution.id] = execution


def load(pipeline_id: str) -> Run:
    """A pipeline from the store, by id, in any process: its tree, states, attempts and logs.
    If the process that ran it died, its running nodes show as error "interrupted"."""
    with LIVE_LOCK:
        handle = _HANDLES.get(pipeline_id)
        if handle is not None:
            return handle
        execution = LIVE.get(pipeline_id)
        if execution is not None:
            handle = _HANDLES[pipeline_id] = Run(execution.record, execution)
            return handle
    return Run(record_from_store(pipeline_id))


def record_from_store(pipeline_id: str) -> Record:
    store = shared_store()
    store.mark_interrupted(pipeline_id)
    rec = store.load(pipeline_id)
    record = Record(pipeline_id, rec.tree, loaded(rec.statuses, rec.blocked))
    record.add_attempts(loaded_attempts(rec.attempts))
    record.add_images(*store.images(pipeline_id))
    record.add_callbacks(store.callbacks(pipeline_id))
    record.backend = rec.backend
    read_output_from_store(record)
    record.set_idle(not (rec.owner_alive and rec.state in ("pending", "queued", "running")))
    return record


def read_output_from_store(record: Record) -> None:
    """Output of attempts this process did not see (an earlier owner's) is read from the store."""
    store = shared_store()
    record.load_output = lambda path, stream, attempt: store.output(
        record.id, path, stream, attempt
    )


_STORES: dict[Path, Any] = {}


def close_shared_stores() -> None:
    """At exit: close this process's reading connections (the WAL is folded in)."""
    for store in list(_STORES.values()):
        store.close()
    _STORES.clear()


def shared_store() -> Store:
    """This process's reading connection to the store at `home()`."""
    from ..store.pipelines import Store, home

    path = home()
    if path not in _STORES:
        _STORES[path] = Store()
    return _STORES[path]  # type: ignore[no-any-return]
