"""What every backend (local processes, Docker worker pools, Dask) does: run one Exec and say
how it ended. The runner owns ordering, retries, max_time and kills; a backend only runs.

Cancellation is the kill signal: the runner cancels the task awaiting `Backend.run`, and the
backend stops the job's processes (the whole process group, the container's command...)
before re-raising `asyncio.CancelledError`. max_time is enforced the same way.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BackendError
from ..model.execs import Command
from ..model.states import State

if TYPE_CHECKING:
    from ..images.image import Image

__all__ = ["Backend", "Job", "Outcome", "OutputSink"]

#: Called with ("stdout" | "stderr", text) as a job prints, on the runner's event loop.
OutputSink = Callable[[str, str], None]


@dataclass(frozen=True)
class Job:
    """One attempt of one Exec, with its effective parameters resolved by the runner."""

    pipeline_id: str
    path: str
    attempt: int
    command: Command
    env: dict[str, str]  # the node's merged env, secrets already resolved
    cwd: Path  # the pipeline's working directory
    cpu: float = 1
    mem: float = 2
    gpu: int = 0
    image: Any = None
    requires_docker: bool = False
    docker_run_args: list[str] = field(default_factory=list)
    max_time: float = 4 * 3600
    generates: bool = False  # a Lazy generator: its result is a tree
    reuse_group: str | None = None  # NEW reuse subtree that shares one container

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.pipeline_id, self.path, self.attempt)


@dataclass
class Outcome:
    """How an attempt ended. `message` says why when the command itself did not decide it
    (cannot start, timed out, backend failure); `result` is a callable's return value."""

    state: State
    exit_code: int | None = None
    message: str | None = None
    result: Any = None


class Backend(abc.ABC):
    """Runs Jobs. One instance serves every pipeline of a process; it is used only from the
    runner's event loop thread."""

    name: str = "backend"
    #: How this backend's jobs reach this machine, for the data service (co.data) that the
    #: run's owner serves here: the host in their $CONDUCTO_DATA_URL ...
    data_host: str = "127.0.0.1"
    #: ... and one more address the service must listen on for them (a Docker bridge's
    #: gateway: 127.0.0.1 inside a container is the container), found by `open()`.
    data_bind: str | None = None

    async def open(self) -> None:
        """Check the backend can work (a daemon answers...) and warm up; raise if not."""

    @abc.abstractmethod
    async def run(self, job: Job, output: OutputSink, started: Callable[[], None]) -> Outcome:
        """Run `job` to its end. Call `started()` once its process actually starts (after
        waiting for capacity); stream what it prints to `output`. On cancellation, stop
        everything the job started, then re-raise."""

    async def prepare(self, pipeline_id: str, jobs: list[Job]) -> None:
        """Before anything of the pipeline runs: check every Exec can run here (its image
        exists, its docker_run_args are allowed...) and raise one BackendError naming what is
        wrong and the nodes concerned. `jobs` has one Job per Exec (attempt 0, env empty)."""

    async def release(self, pipeline_id: str) -> None:
        """The pipeline went idle (it may run again later): free what it holds."""

    async def close(self) -> None:
        """Stop every process or container this backend still has."""

    async def build_image(self, image: Image, log: Callable[[str], None]) -> str:
        """Build `image` (or find it built) where this backend's jobs run and return what
        Jobs then name it by; `log(line)` on the runner's loop as the build prints. Only
        called where `honours_images()`; raise ImageBuildError naming what failed."""
        raise BackendError(f"the {self.name} backend cannot build images")

    async def use_built(self, image: Image, tag: str) -> bool:
        """Run `image`'s jobs in what an earlier build of it made (`tag`, as `build_image`
        returned it) if that still exists here; False to build it again."""
        return False

    def honours_images(self) -> bool:
        """False where `image` is ignored altogether: the runner says so once."""
        return True

    def honours(self, image: Any) -> bool:
        """Whether this backend makes something of `image` (a name or a co.Image): the local
        backend only of a co.Image's code and pip packages."""
        return self.honours_images()
