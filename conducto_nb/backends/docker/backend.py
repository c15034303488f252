"""The Docker backend: each Exec runs in a warm container of its pipeline's pool for its
resource signature (image, cpu, mem, requires_docker, docker_run_args), one job at a time per
container, so a job costs about a fork in the container instead of a `docker run`.

    root.run(backend=DockerBackend())                  # or backend="docker"
    DockerBackend(cpu_budget=4, mem_budget=8, idle_timeout=30, spare_timeout=300)

cpu becomes the container's CPU quota and mem its memory limit; a job killed by the kernel's
OOM killer ends ERROR "out of memory (mem=... GB)". `requires_docker=True` bind-mounts the
daemon's socket and this machine's docker CLI; no other container gets them. Containers carry
labels (`conducto_nb.pipeline`, `conducto_nb.pool`, `conducto_nb.owner_pid`) and are removed
when their pipeline is released or the backend closes; `clean_orphans` removes those whose
owner died. Containers of the kinds a pipeline used are started ahead, unused, for the next
pipeline (`spare_timeout` seconds unused, 0: none). The pools are pool.py, the spares spares.py,
a container and its worker worker.py, what a job's container is launch.py, the check of an
image's Python python_check.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import sys
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ...errors import BackendError
from ...images.docker_sdk import import_docker
from ...images.paths import PathNotInImage, expand_for_container
from ...model.execs import Command
from ...model.states import State
from ..base import Backend, Job, Outcome, OutputSink
from .args import (
    BACKEND_LABEL,
    parse_run_args,
)
from .capacity import Capacity
from .daemon import Daemon, clean_orphans
from .launch import ContainerPlan, docker_binds
from .pool import Pool, Pools
from .python_check import PythonChecks
from .worker import Container, outcome_of

if TYPE_CHECKING:
    from ...images.image import Image

__all__ = ["DockerBackend", "clean_orphans", "default_image"]


def default_image() -> str:
    """The image of a node that names none: this Python's slim image (cloudpickle needs the
    same version on both ends)."""
    return f"python:{sys.version_info.major}.{sys.version_info.minor}-slim"


def image_name(image: Any) -> str:
    if image is None:
        return default_image()
    return image if isinstance(image, str) else str(getattr(image, "name", image))


class DockerBackend(Backend):
    """Runs jobs in warm containers; `base_url` defaults to $DOCKER_HOST or the local socket,
    the budgets to the daemon's cores and memory (GB)."""

    name = "docker"
    #: Containers reach this machine's data service by this name (launch.py maps it to the
    #: bridge's gateway, as `--add-host host.docker.internal:host-gateway` does).
    data_host = "host.docker.internal"

    def __init__(
        self,
        *,
        base_url: str | None = None,
        cpu_budget: float | None = None,
        mem_budget: float | None = None,
        idle_timeout: float | None = 30.0,
        spare_timeout: float | None = 300.0,
        timeout: float = 60,
    ) -> None:
        self.daemon = Daemon(base_url, timeout)
        self.cpu_budget, self.mem_budget = cpu_budget, mem_budget
        self.idle_timeout, self.spare_timeout = idle_timeout, spare_timeout
        self.id = uuid.uuid4().hex[:12]
        self.pools: Pools | None = None
        self.ncpu = float(os.cpu_count() or 1)
        self.closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pythons = PythonChecks()
        self._tags: dict[Any, str] = {}  # co.Image -> the tag it was built as
        self._client: Any = None  # a high-level DockerClient, for co.Image builds

    # -- life -------------------------------------------------------------------------------
    async def open(self) -> None:
        """Check a daemon answers (one clear BackendError if not) and size the budget."""
        self._on_this_loop()
        info = await self.daemon.open()
        self.ncpu = float(info.get("NCPU") or self.ncpu)
        if self.daemon.socket_path is not None and self.data_bind is None:
            self.data_bind = await self._bridge_gateway()
        if self.pools is None:
            cpu = self.cpu_budget if self.cpu_budget is not None else self.ncpu
            mem = self.mem_budget if self.mem_budget is not None else info["MemTotal"] / 2**30
            self.pools = Pools(
                self.daemon, Capacity(cpu, mem), self.idle_timeout, self.spare_timeout
            )
        self.closed = False

    async def _bridge_gateway(self) -> str | None:
        """The default bridge's gateway: this machine as its containers reach it, where the
        data service (co.data) listens for them; None when the daemon has no such bridge."""

        def gateway() -> str | None:
            for config in self.daemon.api.inspect_network("bridge")["IPAM"]["Config"] or []:
                if config.get("Gateway") and ":" not in config["Gateway"]:  # IPv4
                    return str(config["Gateway"])
            return None

        try:
            return await self.daemon.call(gateway)
        except Exception:  # no bridge network (a daemon run with --bridge=none)
            return None

    def _on_this_loop(self) -> None:
        """Pools are bound to one event loop; on a new one (the old closed) start afresh."""
        loop = asyncio.get_running_loop()
        if self._loop is not None and loop is not self._loop and self.pools is not None:
            old = self.pools
            self.pools = Pools(
                self.daemon,
                Capacity(old.capacity.cpu, old.capacity.mem),
                old.idle_timeout,
                old.spares.timeout,
            )
            self._pythons.clear()
            old.spares.closed = True  # those still starting go with the old loop's end
            gone = [c.id for pool in old.pools.values() for c in pool.containers]
            for cid in gone + old.spares.ids():
                self.pools._spawn(self.daemon.remove(cid))
        self._loop = loop

    async def release(self, pipeline_id: str) -> None:
        """The pipeline went idle: remove its containers (and wait until they are gone)."""
        if self.pools is not None:
            await self.pools.close(pipeline_id)

    async def close(self) -> None:
        """Remove every container of this backend; running jobs end WORKER_ERROR."""
        self.closed = True
        if self.pools is None:
            return
        self._on_this_loop()
        await self.pools.close(why="the Docker backend was closed")
        with contextlib.suppress(BackendError):  # anything a lost start left behind
            for found in await self.daemon.labelled(f"{BACKEND_LABEL}={self.id}"):
                await self.daemon.remove(found["Id"])
        self.daemon.close()
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- before a run -----------------------------------------------------------------------
    async def prepare(self, pipeline_id: str, jobs: list[Job]) -> None:
        """Refuse, before anything runs, docker_run_args off the allowlist and missing images
        (one BackendError naming every missing image and its nodes). co.Images are built
        afterwards, while the pipeline runs (`build_image`)."""
        from ...images.image import Image

        if self.pools is None:
            await self.open()
        needs: dict[str, list[str]] = {}
        for job in jobs:
            parse_run_args(job.docker_run_args, job.path)  # a BackendError naming the node
            if job.requires_docker:
                docker_binds(self.daemon.socket_path, self.daemon.url, job.path)
            if not isinstance(job.image, Image):
                needs.setdefault(self.image_name(job.image), []).append(job.path)
        names = list(needs)
        found = await asyncio.gather(*(self.daemon.has_image(n) for n in names))
        missing = [n for n, ok in zip(names, found, strict=True) if not ok]
        if missing:
            lines = [f"  {n}: needed by {', '.join(needs[n])}" for n in missing]
            raise BackendError(
                "image(s) not found on the Docker daemon (build or pull them first):\n"
                + "\n".join(lines)
            )

    async def build_image(self, image: Image, log: Callable[[str], None]) -> str:
        """Build a co.Image on this daemon (or find it built); jobs naming it then run in it."""
        from ...images import build as image_build

        if self._client is None:
            docker = import_docker()
            self._client = await asyncio.to_thread(
                docker.DockerClient, base_url=self.daemon.url, version="auto"
            )
        tag = await image_build.build(image, self._client, log)
        self._tags[image] = tag
        return tag

    async def use_built(self, image: Image, tag: str) -> bool:
        if not await self.daemon.has_image(tag):
            return False
        self._tags[image] = tag
        return True

    def image_name(self, image: Any) -> str:
        """The tag a node's image runs as: a built co.Image's tag, else the name given."""
        built = self._tags.get(image) if not isinstance(image, str | None) else None
        return built or image_name(image)

    # -- one job ----------------------------------------------------------------------------
    async def run(self, job: Job, output: OutputSink, started: Callable[[], None]) -> Outcome:
        self._on_this_loop()
        if self.closed or self.pools is None:
            return Outcome(State.WORKER_ERROR, message="the Docker backend is not open")
        if not isinstance(job.image, str | None) and job.image not in self._tags:
            try:  # a runner builds images first (showing the log); a direct caller may not
                await self.build_image(job.image, lambda line: None)
            except BackendError as e:
                return _cannot(str(e))
        try:
            if job.command.shell is not None and "__conducto_path:" in job.command.shell:
                # co.relpath(...): the path's place in this image's container
                command = Command.of_shell(expand_for_container(job.command.shell, job.image))
                job = dataclasses.replace(job, command=command)
            pool = self._pool(job)
            if job.command.is_call:
                job.command.pickled()
                pool.calls = True
        except PathNotInImage as e:
            return _cannot(str(e))
        except BackendError as e:
            return _cannot(str(e.message))
        except Exception as e:  # pickling raises many kinds
            return _cannot(f"cannot pickle the callable: {type(e).__name__}: {e}")
        try:
            container = await pool.take()
        except BackendError as e:
            return Outcome(State.WORKER_ERROR, message=str(e))
        except Exception as e:  # the daemon refused the container
            why = f"cannot start a container of {pool.spec.image}: {e}"
            if job.gpu:
                why = (
                    f"gpu={job.gpu} needs GPUs on the Docker daemon, with their container "
                    f"runtime (the NVIDIA Container Toolkit); {why}"
                )
            return Outcome(State.ERROR, message=why)
        try:
            if job.command.is_call:
                try:
                    problem = await self._pythons.problem(container, pool.spec.image, job.path)
                except BackendError as e:
                    return Outcome(State.WORKER_ERROR, message=str(e))
                if problem:
                    return _cannot(problem)
            run = await container.run(job, output, started)
        finally:
            pool.put(container)
        if run.lost is not None:
            return await self._lost(container, run.lost)
        return outcome_of(run, job.mem)

    def _pool(self, job: Job) -> Pool:
        assert self.pools is not None
        plan = ContainerPlan(self.id, self.ncpu, self.daemon.socket_path, self.daemon.url)
        spec, launch = plan.launch(job, self.image_name(job.image))
        if job.reuse_group is not None:
            return self.pools.get((job.pipeline_id, "group", job.reuse_group), spec, launch, True)
        return self.pools.get((job.pipeline_id, spec), spec, launch)

    async def _lost(self, container: Container, why: str) -> Outcome:
        down = await self.daemon.alive()
        if down:
            return Outcome(State.WORKER_ERROR, message=f"the Docker daemon stopped: {down}")
        if self.closed:
            return Outcome(State.WORKER_ERROR, message="the Docker backend was closed")
        return Outcome(
            State.WORKER_ERROR, message=f"container {container.short} ended unexpectedly ({why})"
        )

    # -- for tests and notebooks ----------------------------------------------------------------
    def spares(self) -> list[str]:
        """Ids of the spare containers started ahead (none yet taken by a pipeline)."""
        return [] if self.pools is None else self.pools.spares.ids()

    def containers(self, pipeline_id: str | None = None) -> list[str]:
        """Ids of the live containers of pipelines (of one), for looking at pools at work."""
        if self.pools is None:
            return []
        return [
            c.id
            for key, pool in self.pools.pools.items()
            if pipeline_id is None or key[0] == pipeline_id  # type: ignore[index]
            for c in pool.containers
        ]


def _cannot(message: str) -> Outcome:
    """A job that cannot run as asked: an ERROR saying why (the runner adds the reason to the
    node's stderr, as for every outcome with a message)."""
    return Outcome(State.ERROR, message=message)
