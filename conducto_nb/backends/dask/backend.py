"""The Dask backend: each Exec attempt is one task on a Dask distributed cluster, for work
beyond one machine. The scheduler core, retries and callbacks are the same as on the other
backends; this only runs single Execs (on_worker.py is what a worker does with one).

    root.run(backend=co.DaskBackend("tcp://scheduler:8786"))
    root.run(backend=co.DaskBackend(client))      # an existing distributed.Client

Workers need conducto_nb installed (the same version). Commands run directly on the worker
machine, not in the node's image (the run's log says so once). co.data reaches the data
service the owner serves: set $CONDUCTO_NB_DATA_ADVERTISE to an address workers can reach.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ...errors import BackendError
from ...model.states import State
from ..base import Backend, Job, Outcome, OutputSink
from .resources import check_fits, declared, task_resources

__all__ = ["DaskBackend"]

#: How long a killed task may take to say its processes are gone (the local backend's
#: SIGTERM grace, then SIGKILL, plus a scheduler round trip) before the kill gives up waiting.
KILL_WAIT = 30.0
#: How long the end of a job waits for output events still on their way.
OUTPUT_WAIT = 10.0


@dataclass
class _Watched:
    """One running task's sink, as its output events arrive (numbered by the worker)."""

    output: OutputSink
    started: Callable[[], None]
    seen: int = 0
    worker: str | None = None  # where it started
    caught_up: asyncio.Event = field(default_factory=asyncio.Event)
    wanted: int | None = None


class DaskBackend(Backend):
    """Runs jobs as tasks on a Dask distributed cluster (a scheduler address or a Client)."""

    name = "dask"

    def __init__(self, address: Any = None, *, timeout: float = 10) -> None:
        scheduler = getattr(address, "scheduler", None)  # a distributed.Client
        self.address: str | None = scheduler.address if scheduler is not None else address
        self.timeout = timeout
        self._client: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._topic = f"conducto_nb-output-{uuid.uuid4().hex}"
        self._watched: dict[str, _Watched] = {}
        self._workers: list[dict[str, float]] = []
        self._clearing: set[asyncio.Future[None]] = set()

    def honours_images(self) -> bool:
        return False  # commands run on the worker machine itself (the runner says so once)

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        if self._client is not None and self._loop is loop:
            if self._client.status not in ("closing", "closed"):
                return
            self._client = None  # it lost its scheduler: connect again (it may be back)
        try:
            from distributed import Client
        except ImportError:
            raise BackendError(
                "the Dask backend needs dask.distributed: pip install 'conducto_nb[dask]'"
            ) from None
        if not self.address:
            raise BackendError("DaskBackend needs a scheduler address or a distributed.Client")
        try:
            self._client = await Client(
                self.address, asynchronous=True, timeout=self.timeout, set_as_default=False
            )
        except (OSError, TimeoutError, ValueError) as e:
            raise BackendError(f"no Dask scheduler answers at {self.address}: {e}") from None
        self._loop = loop
        self._client.subscribe_topic(self._topic, self._on_event)

    def _on_event(self, event: tuple[float, Any]) -> None:
        token, number, kind, text = event[1]
        watched = self._watched.get(token)
        if watched is None:
            return  # a job that already ended (killed) or another backend's
        watched.seen = max(watched.seen, number)
        if kind == "started":
            if watched.worker is None:
                watched.worker = text
                watched.started()
        else:
            watched.output(kind, text)
        if watched.wanted is not None and watched.seen >= watched.wanted:
            watched.caught_up.set()

    async def prepare(self, pipeline_id: str, jobs: list[Job]) -> None:
        await self.open()
        info = await self._client.scheduler.identity(n_workers=-1)  # fresh, not cached
        self._workers = declared(info)
        if not info.get("workers"):
            raise BackendError(f"the Dask scheduler at {self.address} has no workers")
        check_fits(((j.path, j.cpu, j.mem) for j in jobs), self._workers)

    async def run(self, job: Job, output: OutputSink, started: Callable[[], None]) -> Outcome:
        await self.open()
        from distributed import KilledWorker

        from .on_worker import KILL_EVENT, REFUSED, claim_name, run_job

        token = f"conducto_nb-{job.pipeline_id}{job.path}-{job.attempt}-{uuid.uuid4().hex[:12]}"
        watched = self._watched[token] = _Watched(output, started)
        future = self._client.submit(
            run_job,
            job,
            self._topic,
            token,
            key=token,
            pure=False,
            resources=task_resources(job.cpu, job.mem, self._workers) or None,
        )
        outcome: Outcome
        sent: int
        try:
            outcome, sent = await future
        except asyncio.CancelledError:
            # (its kill Event stays set: a queued task Dask starts anyway stops at its first look)
            self._clear(claim_name(token))
            await self._kill(token, future, watched)
            raise
        except KilledWorker as e:
            outcome, sent = Outcome(State.WORKER_ERROR, message=f"a Dask worker died: {e}"), 0
        except Exception as e:  # the scheduler went away, a task that could not unpickle...
            message = f"the Dask task failed: {type(e).__name__}: {e}"
            outcome, sent = Outcome(State.WORKER_ERROR, message=message), 0
        self._clear(claim_name(token), KILL_EVENT.format(token))
        if outcome.message == REFUSED:
            where = f" {watched.worker}" if watched.worker else ""
            outcome.message = (
                f"the Dask worker{where} died while running it; not run a second time "
                "(retries or a rerun place it again)"
            )
        try:
            if watched.seen < sent:
                watched.wanted = sent
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(OUTPUT_WAIT):
                        await watched.caught_up.wait()
        finally:
            del self._watched[token]
        return outcome

    async def _kill(self, token: str, future: Any, watched: _Watched) -> None:
        """Stop the task's processes: a queued task is cancelled, a running one told through
        its kill Event, and awaited until it says they are gone."""
        from distributed import Event

        from .on_worker import KILL_EVENT

        try:
            await Event(KILL_EVENT.format(token), client=self._client).set()
            if watched.worker is None:
                await future.cancel()
                return
            async with asyncio.timeout(KILL_WAIT):
                await future
        except Exception:
            pass  # gone already, or the worker died: either way it no longer runs
        finally:
            self._watched.pop(token, None)

    def _clear(self, *names: str) -> None:
        """Clear the attempt's events, which removes them from the scheduler (in the
        background: the node's end does not wait for it)."""
        from distributed import Event

        async def clear() -> None:
            with contextlib.suppress(Exception):
                for name in names:
                    await Event(name, client=self._client).clear()

        self._clearing.add(task := asyncio.ensure_future(clear()))
        task.add_done_callback(self._clearing.discard)

    async def close(self) -> None:
        if self._client is not None:
            await asyncio.gather(*self._clearing, return_exceptions=True)
            client, self._client = self._client, None
            with contextlib.suppress(Exception):
                await client.close()
