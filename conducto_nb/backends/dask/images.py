"""co.Images for Dask workers, built where the pipeline runs (its owner's machine).

A co.Image's context (copy_dir, a Dockerfile beside the notebook...) is on this machine, not on
the workers, so the owner builds it on its own Docker daemon, as the Docker backend does, and
tasks carry the tag. Workers that share that daemon, or pull the tag from a registry, run the
node in it; a worker whose daemon lacks it fails the node naming the image and the worker
(runners.py). With images="auto" and no daemon here, nothing is built here: a worker that runs
the node in Docker builds it itself, and one without Docker uses its code as the local backend
does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ...errors import BackendError

if TYPE_CHECKING:
    from ...images.image import Image

__all__ = ["OwnerImages"]


class OwnerImages:
    """The owner's Docker backend, used only to build co.Images; the tags they were built as."""

    def __init__(self, allow_without_daemon: bool) -> None:
        self.allow_without_daemon = allow_without_daemon
        self._docker: Any = None
        self._no_daemon = ""  # why, once a daemon did not answer
        self._tags: dict[Any, str] = {}

    def tag(self, image: Any) -> str | None:
        """What a task's co.Image was built as here (None: a name, or not built here)."""
        if image is None or isinstance(image, str):
            return None
        return self._tags.get(image)

    async def _backend(self) -> Any:
        """The Docker backend of this machine, or None (images="auto") where none answers."""
        if self._docker is None and not self._no_daemon:
            from ..docker.backend import DockerBackend

            backend = DockerBackend()
            try:
                await backend.open()
            except (BackendError, ImportError) as e:
                self._no_daemon = str(e).splitlines()[0] or type(e).__name__
            else:
                self._docker = backend
        if self._docker is None and not self.allow_without_daemon:
            raise BackendError(
                "images='docker' builds co.Images on the Docker daemon of the machine that "
                f"runs the pipeline, and none answers here: {self._no_daemon}"
            )
        return self._docker

    async def gateway(self) -> str | None:
        """Where this machine's Docker containers reach it (the data service listens there
        too, for containers of workers on this machine), or None without a daemon."""
        try:
            docker = await self._backend()
        except BackendError:
            return None
        return docker.data_bind if docker is not None else None

    async def build(self, image: Image, log: Callable[[str], None]) -> str:
        """Build `image` on this machine's daemon (or find it built); its tag."""
        docker = await self._backend()
        if docker is None:
            log(
                f"no Docker daemon here ({self._no_daemon}): each Dask worker that runs this "
                "image's nodes in Docker builds it there"
            )
            return ""
        tag: str = await docker.build_image(image, log)
        self._tags[image] = tag
        return tag

    async def use_built(self, image: Image, tag: str) -> bool:
        docker = await self._backend()
        if docker is None or not tag or not await docker.use_built(image, tag):
            return False
        self._tags[image] = tag
        return True

    async def close(self) -> None:
        if self._docker is not None:
            docker, self._docker = self._docker, None
            await docker.close()
        self._no_daemon = ""
