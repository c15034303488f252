"""What runs on a Dask worker: one Exec attempt, as a subprocess or in a container, through the
worker process's local or Docker backend (runners.py).

A Dask task is a Python call in a worker thread, and cancelling its future does not stop it;
so the command does not run in the task. The task hands the Job to a backend running on a
loop of its own in this worker process (process groups or containers, a guard that ends them
should this worker die, callables in warm subprocesses, a co.Image's code and venv) and
watches for the client's kill while the job runs. What the job prints goes back as worker
events on the client's topic, numbered, so the client knows when it has seen it all.

Dask runs a task again elsewhere when its worker dies. An attempt must never run twice: the
scheduler marks such a task (claims.py) and it is refused here before anything runs, as is a
task the client cancelled that this worker starts anyway.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
from collections.abc import Callable
from typing import Any

import cloudpickle
from distributed import get_worker
from distributed.utils import sync

from ...model.states import State
from ..base import Job, Outcome
from .claims import KILLED, RERUN
from .runners import runners

__all__ = ["REFUSED", "pack", "release", "run_job"]

#: How often a running task looks whether the client killed it (one scheduler call each time).
KILL_POLL = 0.5
#: The largest outcome (pickled, bytes) sent as the last event; a larger one is fetched.
END_INLINE = 64 * 1024
#: A second run's answer; the client names the worker that died, from the first's start.
REFUSED = "the Dask worker that ran it died; not run a second time"


def _ask(worker: Any, op: str, token: str) -> Any:
    """One call to the claims plugin on the scheduler, from this task's thread."""
    return sync(worker.loop, lambda: getattr(worker.scheduler, op)(token=token))


def pack(outcome: Outcome) -> bytes:
    return bytes(cloudpickle.dumps(outcome))


def run_job(
    job: Job | bytes, topic: str, token: str, images: str = "local", tag: str | None = None
) -> tuple[Outcome, int]:
    """Run `job` here to its end, or until the client kills it; how it ended and how many
    output events were sent (the client waits for them all before it reports the end).
    `images` is DaskBackend's choice; `tag` what a co.Image of the job was built as.

    The outcome also goes as the last event where small: the client reads it there instead
    of fetching the result (the result stays the way for a big one, or should that event not
    arrive)."""
    worker = get_worker()
    sent = 0

    def emit(kind: str, text: str | bytes) -> None:
        nonlocal sent
        sent += 1
        worker.log_event(topic, [token, sent, kind, text])

    if isinstance(job, bytes):
        job = cloudpickle.loads(job)
    assert isinstance(job, Job)
    outcome = _run(worker, job, token, images, tag, emit)
    packed = b""
    with contextlib.suppress(Exception):  # a result cloudpickle cannot send: fetched instead
        packed = pack(outcome)
    # A big result is fetched as the task's result: the scheduler keeps recent events.
    emit("end", packed if len(packed) <= END_INLINE else b"")
    return outcome, sent


def _run(
    worker: Any, job: Job, token: str, images: str, tag: str | None, emit: Callable[..., None]
) -> Outcome:
    task = worker.state.tasks.get(token)  # this worker's view of the task: no round trip
    if task is None or task.state in ("cancelled", "released", "forgotten"):
        return Outcome(State.KILLED, message="killed")  # the client cancelled it
    if (task.annotations or {}).get(RERUN):
        return Outcome(State.WORKER_ERROR, message=REFUSED)

    here = runners()  # (the job's folder is made where missing: a remote worker's)
    running: list[asyncio.Task[Any]] = []

    async def whole() -> Outcome:
        running.append(asyncio.current_task())  # type: ignore[arg-type]
        backend, there, direct, cannot = await here.pick(job, images, tag, worker.address)
        if backend is None:
            assert cannot is not None
            return cannot
        if direct:
            emit("direct", f"{worker.address} {direct}")  # the client notes it once per run
        started = lambda: emit("started", worker.address)  # noqa: E731
        return await backend.run(there, emit, started)

    async def stop() -> None:
        """Cancel the job (the backend stops its process or container) and wait for it."""
        running[0].cancel()
        with contextlib.suppress(BaseException):
            await running[0]

    # One hop to the loop and one back: the loop thread's future answers when the job ends.
    future = asyncio.run_coroutine_threadsafe(whole(), here.loop)
    while True:
        try:
            return future.result(timeout=KILL_POLL)
        except concurrent.futures.TimeoutError:
            pass
        except concurrent.futures.CancelledError:
            return Outcome(State.KILLED, message="killed")
        if _ask(worker, KILLED, token):
            asyncio.run_coroutine_threadsafe(stop(), here.loop).result()
            return Outcome(State.KILLED, message="killed")


async def release(pipeline_id: str) -> None:
    """Run on every worker (on its own loop) when the client's pipeline goes idle: remove its
    warm containers here, if this worker ever ran any."""
    from . import runners as module

    here = module._RUNNERS
    if here is not None:
        done = asyncio.run_coroutine_threadsafe(here.release(pipeline_id), here.loop)
        await asyncio.wrap_future(done)
