"""What runs on a Dask worker: one Exec attempt, as a subprocess, through the local backend.

A Dask task is a Python call in a worker thread, and cancelling its future does not stop it;
so the command does not run in the task. The task hands the Job to the local backend running
on a loop of its own in this worker process (process groups, a guard that ends them should
this worker die, callables in warm subprocesses, a co.Image's code and venv) and watches for
the client's kill (a distributed Event) while the job runs. What the job prints goes back as
worker events on the client's topic, numbered, so the client knows when it has seen it all.

Dask runs a task again elsewhere when its worker dies. An attempt must never run twice, so
each task first claims its token (a distributed Event, set); a second run of the same token
finds the claim and refuses. (Two runs of one key never overlap in Dask: the second starts
only once the first's worker is gone, so checking then setting is enough.) The client clears
the claim when the attempt ends, which removes it from the scheduler.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading

from distributed import Event, get_worker

from ...model.states import State
from ..base import Job, Outcome
from ..local.backend import LocalBackend

__all__ = ["KILL_EVENT", "REFUSED", "claim_name", "run_job"]

#: How often a running task looks whether the client killed it (one scheduler call each time).
KILL_POLL = 0.5
KILL_EVENT = "conducto_nb-kill-{}"
_CLAIM = "conducto_nb-claim-{}"
#: A second run's answer; the client names the worker that died, from the first's start.
REFUSED = "the Dask worker that ran it died; not run a second time"

_LOCK = threading.Lock()
_RUNNER: tuple[asyncio.AbstractEventLoop, LocalBackend] | None = None


def claim_name(token: str) -> str:
    return _CLAIM.format(token)


def _runner() -> tuple[asyncio.AbstractEventLoop, LocalBackend]:
    """This worker process's loop thread and local backend, started on first use. Dask
    decides how many jobs run here at once; the backend's own CPU budget must not queue them."""
    global _RUNNER
    with _LOCK:
        if _RUNNER is None:
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="conducto_nb-jobs", daemon=True).start()
            backend = LocalBackend(cpu_budget=max(64, os.cpu_count() or 1))
            asyncio.run_coroutine_threadsafe(backend.open(), loop).result()
            _RUNNER = (loop, backend)
        return _RUNNER


def _claim(token: str) -> bool:
    """Claim `token` for this run; False if an earlier run of it claimed it first."""
    claim = Event(claim_name(token))
    if claim.is_set():
        return False
    claim.set()
    return True


def run_job(job: Job, topic: str, token: str) -> tuple[Outcome, int]:
    """Run `job` here to its end, or until the client kills it; how it ended and how many
    output events were sent (the client waits for them all before it reports the end)."""
    worker = get_worker()
    if not _claim(token):
        return Outcome(State.WORKER_ERROR, message=REFUSED), 0
    sent = 0

    def emit(kind: str, text: str) -> None:
        nonlocal sent
        sent += 1
        worker.log_event(topic, [token, sent, kind, text])

    loop, backend = _runner()  # (the job's folder is made where missing: a remote worker's)

    async def begin() -> asyncio.Task[Outcome]:
        started = lambda: emit("started", worker.address)  # noqa: E731
        return asyncio.ensure_future(backend.run(job, emit, started))

    task = asyncio.run_coroutine_threadsafe(begin(), loop).result()
    finished: concurrent.futures.Future[None] = concurrent.futures.Future()
    loop.call_soon_threadsafe(task.add_done_callback, lambda _: finished.set_result(None))
    kill = Event(KILL_EVENT.format(token))
    while True:
        done, _ = concurrent.futures.wait([finished], timeout=KILL_POLL)
        if done:
            break
        if kill.is_set():
            loop.call_soon_threadsafe(task.cancel)  # the local backend stops the process group
            finished.result()
            return Outcome(State.KILLED, message="killed"), sent
    if task.cancelled():
        return Outcome(State.KILLED, message="killed"), sent
    return task.result(), sent
