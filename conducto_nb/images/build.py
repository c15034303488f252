"""Build a `co.Image` with the docker SDK (the legacy builder: no BuildKit here) and stream its
log lines; the same Image asked for twice at once builds once.

    tag = await build(img, client, log=print)  # "conducto-nb/img:<hash>", built or found

What is sent: context.py (a base Dockerfile's build first, then the derived step on it).
An image found under its tag is used as is, unless its base image changed since (a label
records the base's id).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

from ..errors import BackendError, ImageBuildError
from .docker_sdk import close_sockets_left_in, import_docker

if TYPE_CHECKING:
    from .image import Image

__all__ = ["build", "build_sync"]

LABEL = "org.conducto-nb.image"  # the hash of its inputs, on every image built here
BASE_LABEL = "org.conducto-nb.base"  # the id of the base image it was built on
LOG_TAIL = 20  # log lines an ImageBuildError carries
READ_TIMEOUT = 900  # seconds a build may print nothing (pip resolving, apt unpacking)

Log = Callable[[str], None]
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


# ---------------------------------------------------------------- one build, blocking
_STEP = re.compile(r"^Step (\d+)/(\d+) : ", re.MULTILINE)


def build_step(log: str) -> str | None:
    """How far a build is ("3/7"), from the last `Step 3/7 : ...` line in `log`: the legacy
    builder prints one as it begins each instruction of a Dockerfile."""
    found = _STEP.findall(log)
    return "/".join(found[-1]) if found else None


class _Lines:
    """Splits the daemon's stream chunks into lines for `emit`, keeping the last ones that
    say something for an error message."""

    def __init__(self, emit: Log) -> None:
        self.emit = emit
        self.tail: deque[str] = deque(maxlen=LOG_TAIL)
        self.partial = ""

    def feed(self, text: str) -> None:
        *done, self.partial = (self.partial + text).split("\n")
        for line in done:
            self.line(line.rstrip("\r"))

    def line(self, line: str) -> None:
        line = _ANSI.sub("", line)  # the legacy builder colours a RUN's stderr
        self.emit(line)
        if line.strip() and not line.startswith((" ---> ", "Removing intermediate container")):
            self.tail.append(line)

    def flush(self) -> None:
        if self.partial:
            self.line(self.partial)
            self.partial = ""


def _base(client: Any, name: str) -> tuple[str | None, str]:
    """The base image's id and USER; (None, "") when it is not on this machine."""
    docker = import_docker("co.Image")
    try:
        found = client.images.get(name)
    except docker.errors.ImageNotFound:
        return None, ""
    return str(found.id), str(found.attrs.get("Config", {}).get("User") or "")


def _run_build(client: Any, tar: IO[bytes], tag: str, lines: _Lines, **kw: Any) -> None:
    docker = import_docker("co.Image")
    error = None
    try:
        stream = client.api.build(
            fileobj=tar,
            custom_context=True,
            tag=tag,
            rm=True,
            forcerm=True,
            decode=True,
            pull=False,
            timeout=READ_TIMEOUT,
            **kw,
        )
        # Read to the end even after an error: an abandoned stream leaks its socket.
        for chunk in stream:
            if "stream" in chunk:
                lines.feed(chunk["stream"])
            elif "error" in chunk:
                error = error or _why(chunk["error"])
            elif "status" in chunk:
                lines.line(" ".join(str(chunk[k]) for k in ("status", "id") if chunk.get(k)))
    except (docker.errors.DockerException, OSError) as e:  # requests' errors are OSErrors
        lines.flush()
        why = getattr(e, "explanation", None) or str(e) or type(e).__name__
        raise ImageBuildError(_failure(tag, str(why).strip(), lines)) from e
    lines.flush()
    if error is not None:
        raise ImageBuildError(_failure(tag, error, lines))


def _why(error: str) -> str:
    """The daemon's error, without the RUN's whole command (the log lines show which step)."""
    ran = re.fullmatch(r"The command .* returned a non-zero code: (\d+)", error.strip(), re.S)
    return f"a RUN step exited with code {ran[1]}" if ran else error.strip()


def _failure(tag: str, why: str, lines: _Lines) -> str:
    tail = "\n".join(f"    {_short(line)}" for line in lines.tail)
    return f"cannot build {tag}: {why}" + (f"\n  last lines of the build:\n{tail}" if tail else "")


def _short(line: str, width: int = 240) -> str:
    return line if len(line) <= width else line[: width - 3] + "..."


def _build_blocking(image: Image, client: Any, emit: Log) -> str:
    """Find or build the image; its tag. Rebuilt when the base image changed since."""
    from .context import BASE_DOCKERFILE, context_tar  # lazy: tarfile... (build_step is light)

    lines = _Lines(emit)
    base_id, user = _base(client, image.image) if image.image else (None, "")
    ctx = context_tar(image, user=user)
    try:
        with _tag_lock(ctx.tag):
            found = client.images.list(filters={"reference": ctx.tag})
            if found and (base_id is None or found[0].labels.get(BASE_LABEL) == base_id):
                emit(f"{ctx.tag}: up to date")
                return ctx.tag
            start = time.monotonic()
            if image.image is not None and base_id is None:
                emit(f"{image.image} is not on this machine: Docker will try to pull it")
            labels = {LABEL: ctx.hash, BASE_LABEL: base_id or ""}
            if ctx.base_tar is not None:
                base_tag = f"{ctx.tag}-base" if ctx.tar is not None else ctx.tag
                emit(f"building {base_tag} from {image.dockerfile or '`dockerfile_text`'}")
                _run_build(
                    client,
                    ctx.base_tar,
                    base_tag,
                    lines,
                    dockerfile=BASE_DOCKERFILE,
                    buildargs=dict(image.docker_build_args) or None,
                    labels=labels,
                )
                user = _base(client, base_tag)[1]
                if ctx.tar is not None and user:  # the Dockerfile set a USER: restore it
                    again = context_tar(image, base=base_tag, user=user)
                    ctx.close()
                    ctx, was = again, ctx.tag
                    if ctx.tag != was:
                        raise ImageBuildError(
                            f"files changed while {was} was building: build again"
                        )
            if ctx.tar is not None:
                emit(f"building {ctx.tag} from {image.image or ctx.tag + '-base'}")
                _run_build(client, ctx.tar, ctx.tag, lines, labels=labels)
            emit(f"built {ctx.tag} in {time.monotonic() - start:.1f}s")
            return ctx.tag
    finally:
        ctx.close()


# ---------------------------------------------------------------- sharing builds
_lock = threading.Lock()
_tag_locks: dict[str, threading.Lock] = {}
_inflight: dict[str, _Shared] = {}


def _tag_lock(tag: str) -> threading.Lock:
    """Two different Images with one tag (they differ only in `shell`...) build one by one."""
    with _lock:
        return _tag_locks.setdefault(tag, threading.Lock())


class _Shared:
    """One build in a thread, and everyone waiting for it: each gets every log line (those
    before it joined, then live) on its own event loop, or in the build thread if it has none."""

    def __init__(self) -> None:
        self.future: concurrent.futures.Future[str] = concurrent.futures.Future()
        self.lines: list[str] = []
        self.listeners: list[Log] = []
        self.lock = threading.Lock()

    def join(self, log: Log | None) -> None:
        if log is None:
            return
        with self.lock:
            for line in self.lines:
                log(line)
            self.listeners.append(log)

    def emit(self, line: str) -> None:
        with self.lock:
            self.lines.append(line)
            listeners = list(self.listeners)
        for log in listeners:
            log(line)


def _on_loop(log: Log | None) -> Log | None:
    """`log` called on the caller's event loop (its thread), never on the build thread."""
    if log is None:
        return None
    loop = asyncio.get_running_loop()

    def deliver(line: str) -> None:
        with contextlib.suppress(RuntimeError):  # that loop closed: nobody listens there
            loop.call_soon_threadsafe(log, line)

    return deliver


def _start(image: Image, client: Any, log: Log | None) -> concurrent.futures.Future[str]:
    # Per client (a unix socket's base_url does not tell daemons apart); the tag lock still
    # makes a second client's identical build wait and find the first's image.
    key = json.dumps([id(client), image.to_json()], sort_keys=True)
    with _lock:
        shared = _inflight.get(key)
        new = shared is None
        if shared is None:
            shared = _inflight[key] = _Shared()
            # Running: a waiter that gives up (its task cancelled) cannot cancel it for all.
            shared.future.set_running_or_notify_cancel()
    shared.join(log)
    if not new:
        return shared.future

    def run() -> None:
        try:
            result = _build_blocking(image, client, shared.emit)
        except BaseException as e:
            with _lock:
                _inflight.pop(key, None)
            if not isinstance(e, ImageBuildError):
                wrapped = ImageBuildError(f"cannot build {image!r}: {type(e).__name__}: {e}")
                wrapped.__cause__ = e
                e = wrapped
            shared.future.set_exception(e)
        else:
            with _lock:
                _inflight.pop(key, None)
            shared.future.set_result(result)

    threading.Thread(target=run, name="conducto_nb-image-build", daemon=True).start()
    return shared.future


async def build(image: Image, client: Any, log: Log | None = None) -> str:
    """Build `image` (or find it built) and return its tag; `log(line)` gets its progress on
    this event loop. The SDK runs in a thread: builds of different images run at once, and
    the same Image asked for again while it builds joins that build. Cancelling the wait
    leaves the build running (Docker cannot stop it midway cleanly). Raises ImageBuildError."""
    return await asyncio.wrap_future(_start(image, client, _on_loop(log)))


def build_sync(image: Image, client: Any = None, log: Log | None = None) -> str:
    """`build` for code without an event loop (a notebook cell, a script). `log` is called
    from the build thread. Without a client, one from the environment (DOCKER_HOST...)."""
    if client is not None:
        return _start(image, client, log).result()
    docker = import_docker("building a co.Image")
    try:
        own = docker.from_env()
    except docker.errors.DockerException as e:
        close_sockets_left_in(e)
        raise BackendError(f"no Docker daemon answers: {e}") from e
    try:
        return _start(image, own, log).result()
    finally:
        own.close()
