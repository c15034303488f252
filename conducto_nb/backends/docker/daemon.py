"""The Docker daemon as the Docker backend sees it: every blocking SDK call runs on a small
thread pool of its own (never on the event loop), and a daemon that does not answer becomes
one BackendError that names it, whatever the SDK raised.

A failed connect to a unix socket leaves docker-py's socket open in the failing frame: failures
close it here (images/docker_sdk.py says how).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from ...errors import BackendError, PipelineNotFound
from ...images.docker_sdk import close_sockets_left_in, import_docker
from .. import guard
from .args import OWNER_LABEL, PIPELINE_LABEL

if TYPE_CHECKING:
    from ...store.pipelines import Store

__all__ = ["DEFAULT_URL", "Daemon", "DaemonGone", "Launch", "clean_orphans"]

DEFAULT_URL = "unix:///var/run/docker.sock"
T = TypeVar("T")


class DaemonGone(BackendError):
    """No Docker daemon answers (it never did, or it stopped)."""


@dataclass
class Launch:
    """How to start one warm container."""

    image: str
    labels: dict[str, str]
    create: dict[str, Any]  # create_container keywords (user, working_dir, volumes...)
    host: dict[str, Any]  # create_host_config keywords (limits, binds, network...)
    setup: str = ""  # shell run once by the worker before its first job


class Daemon:
    """A docker APIClient used from asyncio: `await daemon.call(fn, ...)` runs `fn` on one of
    the daemon's threads."""

    def __init__(self, base_url: str | None = None, timeout: float = 60) -> None:
        self.url = base_url or os.environ.get("DOCKER_HOST") or DEFAULT_URL
        self.timeout = timeout
        self.api: Any = None
        self._info: dict[str, Any] | None = None
        self._threads: ThreadPoolExecutor | None = None

    @property
    def socket_path(self) -> str | None:
        """The daemon's unix socket on this machine, for `requires_docker` containers."""
        return self.url.removeprefix("unix://") if self.url.startswith("unix://") else None

    def gone(self, why: str) -> DaemonGone:
        return DaemonGone(f"no Docker daemon answers at {self.url}: {why}")

    async def open(self) -> dict[str, Any]:
        """Connect (negotiating the API version) and return the daemon's `info()`; once
        connected, a ping checks it still answers (`info()` takes the daemon ~30 ms, and its
        cores and memory do not change while it runs)."""
        docker = import_docker()
        if self.api is None or self._info is None:

            def connect() -> Any:
                probe = docker.APIClient(base_url=self.url, version="1.24", timeout=10)
                try:
                    probe.ping()  # a client built with version="auto" cannot be closed on failure
                finally:
                    probe.close()
                return docker.APIClient(
                    base_url=self.url, version="auto", timeout=self.timeout, max_pool_size=32
                )

            if self.api is None:
                self.api = await self._run(connect)
            info: dict[str, Any] = await self.call(lambda: self.api.info())
            self._info = info
            return info
        await self.call(lambda: self.api.ping())
        return self._info

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`fn(*args, **kwargs)` on a thread; DaemonGone when the daemon does not answer."""
        if self.api is None:
            raise self.gone("the backend is not open")
        return await self._run(fn, *args, **kwargs)

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if self._threads is None:
            self._threads = ThreadPoolExecutor(16, thread_name_prefix="conducto_nb-docker")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._threads, lambda: self._guarded(fn, args, kwargs))

    def _guarded(self, fn: Callable[..., T], args: Any, kwargs: Any) -> T:
        docker = import_docker()
        try:
            return fn(*args, **kwargs)
        except docker.errors.APIError:
            raise  # the daemon answered: NotFound, Conflict, a bad request...
        except (docker.errors.DockerException, OSError) as e:  # requests' errors are OSErrors
            close_sockets_left_in(e)
            raise self.gone(_one_line(e)) from None

    async def alive(self) -> str:
        """Empty when the daemon answers a ping, else why not."""
        try:
            await self.call(lambda: self.api.ping())
        except BackendError as e:
            return str(e)
        except Exception as e:
            return f"{type(e).__name__}: {e}"
        return ""

    # -- containers ---------------------------------------------------------------------------
    async def launch(self, spec: Launch) -> tuple[str, socket.socket]:
        """Create and start a container whose main process is `sh -s` (under Docker's init),
        attached: returns its id and the socket carrying its stdin, stdout and stderr."""
        return await self.call(self._launch, spec)

    def _launch(self, spec: Launch) -> tuple[str, socket.socket]:
        docker = import_docker()
        api = self.api
        host = api.create_host_config(
            init=True,
            auto_remove=True,  # when our end of stdin closes (this process died), it goes
            log_config=docker.types.LogConfig(type="none"),  # output goes only to us
            **spec.host,
        )
        cid: str = api.create_container(
            spec.image,
            ["-s"],
            entrypoint=["sh"],
            stdin_open=True,  # and StdinOnce: our detaching closes the worker's stdin
            labels=spec.labels,
            host_config=host,
            **spec.create,
        )["Id"]
        if self.socket_path is not None:  # from its creation: it goes if this process dies
            guard.watch_container(self.socket_path, cid, grace=1.5)
        try:
            sock = self._attach(cid)
            try:
                api.start(cid)
            except BaseException:
                sock.close()
                raise
        except BaseException:
            with contextlib.suppress(Exception):
                self._remove(cid)
            raise
        return cid, sock

    def _attach(self, cid: str) -> socket.socket:
        """The hijacked attach connection as a socket of our own. As docker-py's
        `attach_socket`, but the HTTP response is closed here, in order, not at some garbage
        collection after its socket closed (which prints an ignored ValueError)."""
        api = self.api
        response = api.post(
            api._url("/containers/{0}/attach", cid),
            None,
            params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1},
            stream=True,
            headers={"Connection": "Upgrade", "Upgrade": "tcp"},
        )
        try:
            api._raise_for_status(response)
            sock = socket.socket(fileno=os.dup(response.raw._fp.fp.raw.fileno()))
        finally:
            with contextlib.suppress(Exception):
                response.close()  # closes its descriptor; the connection lives on in ours
        return sock

    async def remove(self, cid: str) -> None:
        """Kill and remove a container; already gone (or going) is fine."""
        await self.call(self._remove, cid)

    def _remove(self, cid: str) -> None:
        docker = import_docker()
        if self.socket_path is not None:
            guard.forget_container(self.socket_path, cid)
        try:
            self.api.remove_container(cid, force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as e:
            if e.status_code != 409:  # 409: its auto-removal is under way; wait for it
                raise
            with contextlib.suppress(docker.errors.APIError, OSError):
                self.api.wait(cid, timeout=10, condition="removed")

    async def exec(self, cid: str, argv: list[str]) -> bytes:
        """Run `argv` in the container (rare paths only: a docker exec costs ~40 ms)."""

        def run() -> bytes:
            eid = self.api.exec_create(cid, argv)["Id"]
            out: bytes = self.api.exec_start(eid)
            return out

        return await self.call(run)

    async def labelled(self, label: str) -> list[dict[str, Any]]:
        """Every container (running or not) carrying `label` (NAME or NAME=VALUE)."""
        found: list[dict[str, Any]] = await self.call(
            lambda: self.api.containers(all=True, filters={"label": label})
        )
        return found

    async def has_image(self, name: str) -> bool:
        docker = import_docker()
        try:
            await self.call(lambda: self.api.inspect_image(name))
        except docker.errors.ImageNotFound:
            return False
        return True

    def close(self) -> None:
        """Close the connection pool and let the threads go; `open` starts afresh."""
        if self.api is not None:
            self.api.close()
            self.api = None
        if self._threads is not None:
            self._threads.shutdown(wait=False)
            self._threads = None


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def clean_orphans(store: Store, base_url: str | None = None) -> list[str]:
    """Remove the containers whose owner is dead (its process is gone, or the store says the
    pipeline's owner is); returns their ids. For `conducto-nb docker clean`."""
    docker = import_docker()
    url = base_url or os.environ.get("DOCKER_HOST") or DEFAULT_URL
    try:
        api = docker.APIClient(base_url=url, version="auto")
    except docker.errors.DockerException as e:
        close_sockets_left_in(e)
        raise BackendError(f"no Docker daemon answers at {url}: {e}") from None
    removed = []
    try:
        for found in api.containers(all=True, filters={"label": PIPELINE_LABEL}):
            labels = found.get("Labels") or {}
            if _orphaned(store, labels):
                with contextlib.suppress(docker.errors.NotFound):
                    api.remove_container(found["Id"], force=True)
                removed.append(found["Id"])
    finally:
        api.close()
    return removed


def _orphaned(store: Store, labels: dict[str, str]) -> bool:
    try:
        pid = int(labels.get(OWNER_LABEL, ""))
    except ValueError:
        return True
    if pid == os.getpid():
        return False
    if not _pid_exists(pid):
        return True
    try:
        return not store.load(labels.get(PIPELINE_LABEL, "")).owner_alive
    except PipelineNotFound:
        return False  # not a stored pipeline (persist=False): its process lives


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except PermissionError:
        return True
    except OSError:
        return False
    return True
