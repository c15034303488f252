"""This process as the owner of the pipelines it runs: the registry of live executions, the
control socket other processes act through, the heartbeats that keep each lease fresh, and the
adoption of a pipeline whose owner died (so `rerun` finishes it here).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
import time
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ActionError, PipelineError
from .control import ControlServer, NotOwner, socket_path
from .loop import background_loop

if TYPE_CHECKING:
    from ..store.lease import Owner
    from ..store.writer import StoreWriter
    from .runner import Execution

__all__ = ["WRITERS", "Ownership", "TakenOver", "ownership", "shared_writer"]


class TakenOver(ActionError):
    """Another process adopted the pipeline first: act through it instead."""

    def __init__(self, pipeline_id: str, pid: int) -> None:
        super().__init__(f"pipeline {pipeline_id} was just taken over by process {pid}")


class Ownership:
    """One per process and store home; lives on the background loop."""

    def __init__(self, home: Path, writer: StoreWriter) -> None:
        self.home, self.writer = home, writer
        #: Held elsewhere (runs.hold): an idle run nobody refers to goes, and its lease too.
        self.executions: weakref.WeakValueDictionary[str, Execution] = weakref.WeakValueDictionary()
        self.server = ControlServer(socket_path(home), self._handle, self._heartbeat)
        self._let_go: list[str] = []  # runs freed since the last heartbeat

    async def start(self) -> None:
        await self.server.start()
        atexit.register(self.server.path.unlink, missing_ok=True)

    def owner(self) -> Owner:
        from ..store.pipelines import Owner, boot_id

        return Owner(os.getpid(), boot_id(), time.time(), str(self.server.path))

    def register(self, ex: Execution) -> None:
        self.executions[ex.id] = ex
        # Only when collected: at exit the lease lapses with the process (its guard ends the
        # jobs, and an adopter waits for that guard; a released lease would skip the wait).
        weakref.finalize(ex, self._release, ex.id).atexit = False

    def _release(self, pipeline_id: str) -> None:
        """An idle run this process no longer holds: its lease goes at the next heartbeat (the
        store has all of it), and an action from elsewhere adopts it from the store. Called by
        the garbage collector, on any thread, maybe inside a lock the writer holds: so it only
        notes the id (list.append takes no lock)."""
        self._let_go.append(pipeline_id)

    def _handle(self, pipeline_id: str, action: str, path: str, args: dict[str, Any]) -> Any:
        ex = self.executions.get(pipeline_id)
        if ex is None:
            raise NotOwner(f"pipeline {pipeline_id} is not run by process {os.getpid()}")
        if action == "stop":
            return self._stop_then_flush(ex)
        if action == "modify":
            ex.modify(path, args.get("command"), args.get("env"))
        else:
            ex.act(action, path)
        # The effect is in the store before the answer: the asker's next read (a `wait()`)
        # sees the rerun going, not the old failure.
        self.writer.flush()
        return None

    async def _stop_then_flush(self, ex: Execution) -> None:
        await ex.stop()
        self.writer.flush()

    def _heartbeat(self) -> None:
        from ..store.pipelines import boot_id

        while self._let_go:
            with contextlib.suppress(PipelineError):  # the writer closed at exit: the lease
                self.writer.set_owner(self._let_go.pop(), None)  # lapses with the process
        if len(self.executions):
            self.writer.renew(os.getpid(), boot_id())


_OWNERSHIPS: dict[Path, Ownership] = {}
_LOCK = threading.Lock()


def ownership(home: Path, writer: StoreWriter) -> Ownership:
    """This process's Ownership for `home`, its control server started."""
    with _LOCK:
        if home not in _OWNERSHIPS:
            own = Ownership(home, writer)
            background_loop().submit(own.start()).result()
            _OWNERSHIPS[home] = own
        return _OWNERSHIPS[home]


WRITERS: dict[Path, StoreWriter] = {}


def shared_writer() -> StoreWriter:
    """This process's batching writer to the store at `home()`."""
    from ..store.pipelines import home
    from ..store.writer import StoreWriter
    from .runs import shared_store

    path = home()
    if path not in WRITERS:
        WRITERS[path] = StoreWriter(shared_store())
    return WRITERS[path]
