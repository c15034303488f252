"""What one Dask worker process keeps between tasks: a loop thread, a local backend, and, where
the worker's Docker daemon answers, a Docker backend (warm containers matched by resources,
reused by later tasks here, as the local backend's warm Python workers are).

`images` (DaskBackend's argument) decides which one runs an attempt: "local" always the local
backend; "docker" the Docker backend, or an error where this worker has no daemon; "auto" the
Docker backend where the daemon answers, else the local backend, and the client writes once in
the run's log which worker ran commands without their image.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ...errors import BackendError
from ...model.states import State
from ..base import Backend, Job, Outcome
from ..local.backend import LocalBackend

__all__ = ["IMAGES", "Runners", "in_container", "runners"]

IMAGES = ("auto", "docker", "local")
#: How long a worker trusts "no Docker daemon here" before it asks the daemon again (seconds).
DOCKER_RECHECK = 30.0
#: Dask decides how many jobs run on a worker at once: the backends' own budgets must not queue.
UNBOUNDED = 1e6

_LOCK = threading.Lock()
_RUNNERS: Runners | None = None


def runners() -> Runners:
    """This worker process's runners, started on first use."""
    global _RUNNERS
    with _LOCK:
        if _RUNNERS is None:
            _RUNNERS = Runners()
        return _RUNNERS


def in_container(job: Job) -> Job:
    """`job` as a container here runs it: co.data's service at this machine's loopback (the
    owner's, on this machine) is, from a container, the Docker backend's name for the host."""
    from ..docker.launch import DATA_HOST, DATA_URL

    url = urlsplit(job.env.get(DATA_URL, ""))
    if url.hostname not in ("127.0.0.1", "localhost"):
        return job
    moved = url._replace(netloc=f"{DATA_HOST}:{url.port}" if url.port else DATA_HOST)
    return replace(job, env={**job.env, DATA_URL: urlunsplit(moved)})


class Runners:
    """The backends of this worker process, all on one event loop in a thread of their own."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="conducto_nb-jobs", daemon=True).start()
        self.local = LocalBackend(cpu_budget=max(64, os.cpu_count() or 1))
        asyncio.run_coroutine_threadsafe(self.local.open(), self.loop).result()
        self._docker: Any = None  # a DockerBackend once its daemon answered
        self._no_docker: tuple[float, str] | None = None  # when a probe failed, and why
        self._images: set[str] = set()  # image names found on the daemon

    async def docker(self) -> tuple[Any, str]:
        """The Docker backend, or None and why this worker has none."""
        if self._docker is not None:
            return self._docker, ""
        if self._no_docker and time.monotonic() - self._no_docker[0] < DOCKER_RECHECK:
            return None, self._no_docker[1]
        try:
            from ..docker.backend import DockerBackend

            backend = DockerBackend(cpu_budget=UNBOUNDED, mem_budget=UNBOUNDED)
            await backend.open()
        except (BackendError, ImportError) as e:
            why = str(e.message) if isinstance(e, BackendError) else str(e)
            self._no_docker = (time.monotonic(), why.splitlines()[0] if why else "no daemon")
            return None, self._no_docker[1]
        self._docker = backend
        return backend, ""

    async def pick(
        self, job: Job, images: str, tag: str | None, where: str
    ) -> tuple[Backend | None, Job, str, Outcome | None]:
        """The backend to run `job` with and the job as it runs there; why it runs without
        its image (auto, no daemon); or the outcome of a job that cannot run here (a missing
        daemon or image)."""
        if images == "local":
            return self.local, job, "", None
        docker, why = await self.docker()
        if docker is None:
            if images == "docker":
                message = f"the Dask worker {where} has no Docker daemon: {why} (images='docker')"
                return None, job, "", Outcome(State.ERROR, message=message)
            return self.local, job, why, None
        name = tag or docker.image_name(job.image)
        if name not in self._images:
            if not await docker.daemon.has_image(name):
                about = f"{name} (a co.Image's build)" if tag else name
                message = (
                    f"image {about} is not on the Docker daemon of the Dask worker {where}: "
                    "build or pull it there (a co.Image is built on the daemon of the machine "
                    "that runs the pipeline)"
                )
                return None, job, "", Outcome(State.ERROR, message=message)
            self._images.add(name)
        if tag:
            await docker.use_built(job.image, tag)
        return docker, in_container(job), "", None

    async def release(self, pipeline_id: str) -> None:
        """The client's pipeline went idle: remove its warm containers here."""
        if self._docker is not None:
            await self._docker.release(pipeline_id)
