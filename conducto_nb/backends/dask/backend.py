"""The Dask backend: each Exec attempt is one task on a Dask distributed cluster, for work
beyond one machine. The scheduler core, retries and callbacks are the same as on the other
backends; this only runs single Execs (on_worker.py is what a worker does with one).

    root.run(backend=co.DaskBackend("tcp://scheduler:8786"))
    root.run(backend=co.DaskBackend(client))      # an existing distributed.Client
    co.DaskBackend(address, images="auto")        # "auto" (the default), "docker" or "local"
                                                  # (default: $CONDUCTO_NB_DASK_IMAGES or auto)

Where commands run on a worker is `images`:
- "auto": in the worker's Docker, in the node's image (the Docker backend's warm containers,
  reused by later tasks on that worker), where the worker's Docker daemon answers; else on the
  worker machine directly, and the run's log says so once, naming the worker.
- "docker": always in the worker's Docker; a worker without a daemon fails the node, saying so.
- "local": always on the worker machine directly; images are not used (the log says so once).
A co.Image is built on the Docker daemon of the machine that runs the pipeline, so workers
sharing that daemon (or a registry's copy of the tag) find it; a worker whose daemon lacks an
image fails the node with one error naming the image and the worker. Without a daemon here,
"auto" leaves a co.Image to each worker (built where it runs in Docker).

The workers and the scheduler need conducto_nb installed (the same version: the scheduler
unpickles each task's function and the plugin of claims.py).
co.data reaches the data service the owner serves: set $CONDUCTO_NB_DATA_ADVERTISE to an
address workers (and their containers) can reach. Without it, workers on the owner's machine
reach it on 127.0.0.1, and their containers through the Docker bridge (as on the Docker
backend).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ...errors import BackendError
from ...model.states import State
from ..base import Backend, Job, Outcome, OutputSink
from .images import OwnerImages
from .resources import check_fits, declared, task_resources

if TYPE_CHECKING:
    from ...images.image import Image

__all__ = ["DaskBackend"]

#: `images` where DaskBackend is not given it (as `conducto-nb run --dask` makes it).
IMAGES_ENV = "CONDUCTO_NB_DASK_IMAGES"
#: How long a killed task may take to say its processes are gone (the local backend's
#: SIGTERM grace, then SIGKILL, plus a scheduler round trip) before the kill gives up waiting.
KILL_WAIT = 30.0
#: How long a pipeline's end waits for the workers to remove its warm containers.
RELEASE_WAIT = 30.0
#: How long the end of a job waits for output events still on their way.
OUTPUT_WAIT = 10.0


@dataclass
class _Watched:
    """One running task's sink, as its output events arrive (numbered by the worker)."""

    job: Job
    output: OutputSink
    started: Callable[[], None]
    seen: int = 0
    worker: str | None = None  # where it started
    caught_up: asyncio.Event = field(default_factory=asyncio.Event)
    wanted: int | None = None
    end: tuple[Outcome, int] | None = None  # the task's result, sent as its last event
    ended: asyncio.Event = field(default_factory=asyncio.Event)


class DaskBackend(Backend):
    """Runs jobs as tasks on a Dask distributed cluster (a scheduler address or a Client)."""

    name = "dask"

    def __init__(
        self, address: Any = None, *, images: str | None = None, timeout: float = 10
    ) -> None:
        from .runners import IMAGES

        images = images or os.environ.get(IMAGES_ENV) or "auto"  # (the CLI's --dask reads it)
        if images not in IMAGES:
            raise BackendError(f"DaskBackend `images` must be one of {IMAGES}, not {images!r}")
        scheduler = getattr(address, "scheduler", None)  # a distributed.Client
        self.address: str | None = scheduler.address if scheduler is not None else address
        self.images = images
        self.timeout = timeout
        self._owner = OwnerImages(allow_without_daemon=images == "auto")
        self._noted: set[str] = set()  # pipelines whose log said a worker runs without Docker
        self._client: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._topic = f"conducto_nb-output-{uuid.uuid4().hex}"
        self._watched: dict[str, _Watched] = {}
        self._workers: list[dict[str, float]] = []

    def honours_images(self) -> bool:
        return self.images != "local"  # else the runner says once that images are not used

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
        await _register_claims(self._client)
        if self.images != "local" and self.data_bind is None:
            self.data_bind = await self._owner.gateway()

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
        elif kind == "direct":
            self._note_direct(watched, text)
        elif kind == "end":
            import cloudpickle  # (imported by then: the job's command was pickled with it)

            if text:  # else too big for an event: the result is fetched
                watched.end = (cloudpickle.loads(text), number)
            watched.ended.set()
        else:
            watched.output(kind, text)
        if watched.wanted is not None and watched.seen >= watched.wanted:
            watched.caught_up.set()

    def _note_direct(self, watched: _Watched, text: str) -> None:
        """Once per run: a worker without Docker runs the job without its image."""
        if watched.job.pipeline_id in self._noted:
            return
        self._noted.add(watched.job.pipeline_id)
        worker, _, why = text.partition(" ")
        watched.output(
            "stderr",
            f"[conducto_nb] the Dask worker {worker} has no Docker daemon ({why}): it runs "
            "commands directly, without their image (here and on any such worker)\n",
        )

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

        from .claims import PREFIX
        from .on_worker import REFUSED, run_job

        token = f"{PREFIX}{job.pipeline_id}{job.path}-{job.attempt}-{uuid.uuid4().hex[:12]}"
        watched = self._watched[token] = _Watched(job, output, started)
        tag = None if self.images == "local" else self._owner.tag(job.image)
        import cloudpickle

        from ...model import pickling  # noqa: F401 - what must travel by value is registered

        future = self._client.submit(
            run_job,
            cloudpickle.dumps(job),  # bytes: the scheduler passes them on without unpickling
            self._topic,
            token,
            self.images,
            tag,
            key=token,
            pure=False,
            resources=task_resources(job.cpu, job.mem, self._workers) or None,
        )
        outcome: Outcome
        sent: int
        try:
            outcome, sent = await self._result(future, watched)
        except asyncio.CancelledError:
            await self._kill(token, future, watched)
            raise
        except KilledWorker as e:
            outcome, sent = Outcome(State.WORKER_ERROR, message=f"a Dask worker died: {e}"), 0
        except Exception as e:  # the scheduler went away, a task that could not unpickle...
            message = f"the Dask task failed: {type(e).__name__}: {e}"
            outcome, sent = Outcome(State.WORKER_ERROR, message=message), 0
        del future  # the scheduler forgets the task (its result with it)
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

    async def _result(self, future: Any, watched: _Watched) -> tuple[Outcome, int]:
        """The task's (outcome, events sent), from its last event where it came: fetching the
        result from the worker would cost a gather (two round trips) per task."""
        await future._state.wait()  # done, as `await future` waits, without the gather
        if future.status == "finished":
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(OUTPUT_WAIT):
                    await watched.ended.wait()  # (it comes before the end, in the same stream)
            if watched.end is not None:
                return watched.end
        result: tuple[Outcome, int] = await future  # the task's error, or no last event
        return result

    async def _kill(self, token: str, future: Any, watched: _Watched) -> None:
        """Stop the task's processes: a queued task is cancelled, a running one told through
        the claims plugin (the scheduler remembers the kill), and awaited until it says they
        are gone."""
        from .claims import KILL

        try:
            await getattr(self._client.scheduler, KILL)(token=token)
            if watched.worker is None:
                await future.cancel()
                return
            async with asyncio.timeout(KILL_WAIT):
                await future
        except Exception:
            pass  # gone already, or the worker died: either way it no longer runs
        finally:
            self._watched.pop(token, None)

    # -- images ---------------------------------------------------------------------------------
    async def build_image(self, image: Image, log: Callable[[str], None]) -> str:
        return await self._owner.build(image, log)

    async def use_built(self, image: Image, tag: str) -> bool:
        return await self._owner.use_built(image, tag)

    async def release(self, pipeline_id: str) -> None:
        """The pipeline went idle: its warm containers on the workers go (in one call)."""
        self._noted.discard(pipeline_id)
        if self.images == "local" or self._client is None:
            return
        from .on_worker import release

        with contextlib.suppress(Exception):  # a worker that went away has none left
            async with asyncio.timeout(RELEASE_WAIT):  # (their idle timeout removes them too)
                await self._client.run(release, pipeline_id)

    async def close(self) -> None:
        await self._owner.close()
        if self._client is not None:
            client, self._client = self._client, None
            with contextlib.suppress(Exception):
                await client.close()


async def _register_claims(client: Any) -> None:
    """Install the claims plugin on the scheduler (once: it is idempotent)."""
    from . import claims

    try:
        await client.register_plugin(claims.Claims())
    except Exception as e:
        raise BackendError(
            f"the Dask scheduler at {client.scheduler.address} refused conducto_nb's claims "
            f"plugin: {type(e).__name__}: {e}"
        ) from None
