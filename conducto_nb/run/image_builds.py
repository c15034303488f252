"""The co.Images of one running pipeline: each is built in the background as the pipeline
starts (different images at once), a node that needs one waits for it while queued, and every
state change and log line goes to the pipeline's observers, so the widget, the CLI and the store
show the builds beside the nodes.

A failed build fails the nodes that need it (with the build's last lines) when they come to
run; it is tried again only on a user's next action (rerun, run, reset), not once per node.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from ..errors import ImageBuildError, PipelineError
from ..images.build import build_step
from ..images.image import Image
from ..model.states import ImageChanged, ImageLog, ImageState

if TYPE_CHECKING:
    from ..backends.base import Backend, Job

__all__ = ["ImageBuilds", "describe", "image_key"]

LABEL_WIDTH = 80
LOG_BATCH_SECONDS = 0.1  # build lines are published together at most this often


def image_key(image: Image) -> str:
    """Tells a pipeline's images apart, from the spec alone (reads no file)."""
    spec = json.dumps(image.to_json(), sort_keys=True, default=str)
    return hashlib.sha256(spec.encode()).hexdigest()[:12]


def describe(image: Image) -> str:
    """A short label a person recognises: the base, then what is added to it."""
    if image.image:
        base = image.image
    elif image.dockerfile:
        base = os.path.basename(image.dockerfile)
    elif image.dockerfile_text is not None:
        base = "dockerfile_text"
    else:
        base = "python (default)"
    parts = [base]
    for word, items in (
        ("pip", image.install_pip),
        ("packages", image.install_packages),
        ("npm", image.install_npm),
    ):
        if items:
            parts.append(f"{word}: {' '.join(items)}")
    if image.install_docker:
        parts.append("docker")
    code = image.copy_dir or image.copy_repo or image.copy_url
    if code:
        where = os.path.basename(code.rstrip("/")) or code
        pinned = " ".join(x for x in (image.copy_branch, (image.copy_commit or "")[:10]) if x)
        parts.append(f"code: {where}" + (f"@{pinned}" if pinned else ""))
    label = " + ".join(parts)
    if image.to_json().get("name"):
        label = f"{image.to_json()['name']} ({label})"
    return label if len(label) <= LABEL_WIDTH else label[: LABEL_WIDTH - 3] + "..."


@dataclass
class _Build:
    image: Image
    status: ImageChanged
    task: asyncio.Task[str] | None = None
    lines: list[str] = field(default_factory=list)  # not yet published
    flush: asyncio.TimerHandle | None = None


Publish = Callable[[object], None]


class ImageBuilds:
    """The builds of one pipeline, on the runner's event loop."""

    def __init__(self, backend: Backend, publish: Publish) -> None:
        self.backend = backend
        self.publish = publish
        self.builds: dict[str, _Build] = {}
        self.recalled: dict[str, ImageChanged] = {}  # built by an earlier owner of the run

    def recall(self, images: list[ImageChanged]) -> None:
        """The images an earlier owner of this run built: where the backend still has them,
        they are used as they are, so a rerun runs the code its run ran (copy_dir's too)."""
        self.recalled = {i.key: i for i in images if i.state is ImageState.DONE and i.tag}

    def plan(self, jobs: list[Job]) -> None:
        """Note every co.Image the Execs use (in order of first use) and publish each as
        pending, or unused where the backend runs no images. Idempotent: a grafted Lazy
        subtree brings its new images."""
        users: dict[str, tuple[Image, list[str]]] = {}
        keys: dict[int, str] = {}  # children share their ancestor's Image: hash it once
        for job in jobs:
            if isinstance(job.image, Image):
                key = keys.get(id(job.image))
                if key is None:
                    key = keys[id(job.image)] = image_key(job.image)
                users.setdefault(key, (job.image, []))[1].append(job.path)
        for key, (image, nodes) in users.items():
            known = self.builds.get(key)
            if known is not None:
                merged = tuple(dict.fromkeys((*known.status.nodes, *nodes)))
                if merged != known.status.nodes:
                    self._set(known, nodes=merged)
                continue
            status = ImageChanged(key, describe(image), ImageState.PENDING, tuple(nodes))
            if key in self.recalled:
                was = self.recalled[key]
                status = replace(was, nodes=tuple(nodes), step=None, message=None)
            elif not self.backend.honours(image):
                status = replace(
                    status,
                    state=ImageState.UNUSED,
                    message=f"the {self.backend.name} backend "
                    + (
                        "uses only an image's code and pip packages, and this one has neither"
                        if self.backend.honours_images()
                        else "runs commands without images"
                    ),
                )
            self.builds[key] = _Build(image, status)
            self.publish(status)

    def start(self) -> None:
        """Start every build not yet started (or that failed before a user's new action)."""
        for build in self.builds.values():
            if build.status.state is ImageState.PENDING and build.task is None:
                self._start(build)

    def rebuild(self) -> None:
        """A user asked: every image is built again, from what its sources hold now (copy_dir's
        folder; a pinned commit stays that commit), when a node next needs it."""
        self.recalled.clear()
        for build in self.builds.values():
            if build.status.state in (ImageState.DONE, ImageState.ERROR) and (
                build.task is None or build.task.done()
            ):
                build.task = None
                self._set(build, state=ImageState.PENDING, tag=None, message=None, ended=None)

    def retry_failed(self) -> None:
        """A user acted (rerun, run, reset): failed builds get another go when needed."""
        for build in self.builds.values():
            if build.status.state is ImageState.ERROR:
                build.task = None
                self._set(build, state=ImageState.PENDING, message=None, ended=None)

    async def ready(self, job: Job) -> None:
        """Wait until the image `job` needs is built; ImageBuildError if it did not build."""
        if not isinstance(job.image, Image):
            return
        build = self.builds.get(image_key(job.image))
        if build is None or build.status.state is ImageState.UNUSED:
            return
        if build.task is None and build.status.key in self.recalled:
            build.task = asyncio.get_running_loop().create_task(self._recalled(build))
            build.task.add_done_callback(_retrieve)
        if build.task is None:
            self._start(build)
        assert build.task is not None
        await asyncio.shield(build.task)  # a killed node leaves the build to the others

    async def _recalled(self, build: _Build) -> str:
        """The tag an earlier owner built, if the backend still has it; else a new build,
        saying why."""
        tag = self.recalled.pop(build.status.key).tag or ""
        if await self.backend.use_built(build.image, tag):
            return tag
        self._set(build, state=ImageState.PENDING)
        self._log(build, f"the image this run built ({tag}) is gone: building it again")
        self._start(build)
        assert build.task is not None
        return await build.task

    def _start(self, build: _Build) -> None:
        self._set(build, state=ImageState.BUILDING, started=time.time(), tag=None, step=None)
        build.task = asyncio.get_running_loop().create_task(self._build(build))
        build.task.add_done_callback(_retrieve)

    async def _build(self, build: _Build) -> str:
        try:
            tag = await self.backend.build_image(build.image, lambda line: self._log(build, line))
        except Exception as e:
            self._flush(build)
            why = str(e) if isinstance(e, PipelineError) else f"{type(e).__name__}: {e}"
            self._set(build, state=ImageState.ERROR, message=why, ended=time.time(), step=None)
            raise ImageBuildError(f"image {build.status.label} did not build: {why}") from e
        self._flush(build)
        self._set(build, state=ImageState.DONE, tag=tag, ended=time.time(), step=None)
        return tag

    def _log(self, build: _Build, line: str) -> None:
        step = build_step(line)
        if step is not None and step != build.status.step:
            self._set(build, step=step)  # at once: the log lines follow in a batch
        build.lines.append(line + "\n")
        if build.flush is None:
            loop = asyncio.get_running_loop()
            build.flush = loop.call_later(LOG_BATCH_SECONDS, self._flush, build)

    def _flush(self, build: _Build) -> None:
        if build.flush is not None:
            build.flush.cancel()
            build.flush = None
        if build.lines:
            text, build.lines = "".join(build.lines), []
            self.publish(ImageLog(build.status.key, text))

    def _set(self, build: _Build, **changes: object) -> None:
        build.status = replace(build.status, **changes)  # type: ignore[arg-type]
        self.publish(build.status)


def _retrieve(task: asyncio.Task[str]) -> None:
    """A build nobody waited for must not warn 'exception was never retrieved'."""
    if not task.cancelled():
        task.exception()
