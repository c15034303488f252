"""A node's exact container for debugging: the image its attempts run in (a built co.Image's
tag), its env (secrets included), cpu and mem as limits, its docker_run_args (through the
backend's allowlist), the daemon's socket for `requires_docker`, co.data's address, and
the node's command in /conducto/cmd.sh. Its main process only waits, so the container stays
as the commands run in it leave it, until `stop()`.

Debug containers carry the `conducto_nb.debug` label (the pipeline id), the node and the
kernel's pid; the backend's guard removes them when this process ends, however it ends,
and `clean` (`conducto-nb debug clean`) removes any whose process is gone.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import socket
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..backends import guard
from ..backends.docker.args import LABEL_PREFIX, parse_run_args
from ..backends.docker.boot import PACKAGE_MOUNT
from ..backends.docker.daemon import DEFAULT_URL
from ..backends.docker.launch import DATA_HOST, DATA_URL, docker_binds
from ..errors import BackendError, PipelineError
from ..images.docker_sdk import close_sockets_left_in, import_docker
from ..images.paths import PathNotInImage, expand_for_container
from .session import CALL_MARK, CMD_PATH, DebugSession, Ran
from .spec import NodeSpec

__all__ = ["DEBUG_LABEL", "ContainerSession", "clean", "start_container"]

DEBUG_LABEL = LABEL_PREFIX + "debug"  # the pipeline id
NODE_LABEL = LABEL_PREFIX + "debug_node"  # the node's path
OWNER_LABEL = LABEL_PREFIX + "debug_owner_pid"  # the process that started it
CALL_PATH = "/conducto/call"  # a callable node's pickled call, as boot.py reads it
_PACKAGE = Path(__file__).resolve().parents[1]  # lent read-only, as the backend lends it
#: The main process: waits (under Docker's init) until the container is removed.
_WAIT = ["sh", "-c", "while :; do sleep 3600; done"]


def _daemon_url() -> str:
    return os.environ.get("DOCKER_HOST") or DEFAULT_URL


def _connect() -> Any:
    """An APIClient whose daemon answered; one BackendError naming the daemon if none does."""
    docker = import_docker("%co_debug on Docker")
    url = _daemon_url()
    try:
        api = docker.APIClient(base_url=url, version="auto", timeout=60)
    except (docker.errors.DockerException, OSError) as e:
        close_sockets_left_in(e)
        raise BackendError(f"no Docker daemon answers at {url}: {_one_line(e)}") from None
    return api


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


class ContainerSession(DebugSession):
    """A debug session in a container of the node's image."""

    def __init__(self, spec: NodeSpec, api: Any, cid: str, socket_path: str | None) -> None:
        super().__init__(spec)
        self.api, self.id, self._socket = api, cid, socket_path
        self.where = f"container {self.short}"

    @property
    def short(self) -> str:
        return self.id[:12]

    def entering(self) -> str:
        return f"docker exec -it {self.short} sh"

    def _execute(self, command: str, echo: bool) -> Ran:
        if self.stopped:
            raise PipelineError(f"the debug {self.where} was stopped", path=self.path)
        printer = self._printer(echo)
        docker = import_docker()
        with self._daemon_errors():
            eid = self.api.exec_create(self.id, ["sh", "-c", command])["Id"]
            with self._started(eid) as sock:
                for _stream, chunk in docker.utils.socket.frames_iter(sock, tty=False):
                    printer.feed(chunk)
            printer.feed(b"", final=True)
            code = self.api.exec_inspect(eid)["ExitCode"]
        return Ran(int(code if code is not None else -1), printer.text)

    @contextlib.contextmanager
    def _daemon_errors(self) -> Iterator[None]:
        """What the daemon raises, as one error naming the container (or the daemon)."""
        docker = import_docker()
        try:
            yield
        except docker.errors.NotFound:
            raise PipelineError(f"the debug {self.where} is gone", path=self.path) from None
        except docker.errors.APIError as e:
            raise BackendError(f"{self.where}: {e.explanation or e}", path=self.path) from None
        except (docker.errors.DockerException, OSError) as e:
            close_sockets_left_in(e)
            why = f"no Docker daemon answers at {_daemon_url()}: {_one_line(e)}"
            raise BackendError(why, path=self.path) from None

    def _started(self, eid: str) -> socket.socket:
        """Start exec `eid`, attached: its output's socket, ours to close (docker-py's
        streamed exec_start leaves its connection for the garbage collector)."""
        api = self.api
        response = api.post(
            api._url("/exec/{0}/start", eid),
            data=json.dumps({"Detach": False, "Tty": False}),
            headers={"Content-Type": "application/json", "Connection": "Upgrade", "Upgrade": "tcp"},
            stream=True,
        )
        try:
            api._raise_for_status(response)
            return socket.socket(fileno=os.dup(response.raw._fp.fp.raw.fileno()))
        finally:
            with contextlib.suppress(Exception):
                response.close()

    def _write_command(self) -> None:
        text = self.script_text()
        if "__conducto_path:" in text:  # co.relpath(...): its place in this image
            try:
                text = expand_for_container(text, self.spec.job.image)
            except PathNotInImage as e:
                raise PipelineError(str(e), path=self.path) from None
        data = text.encode()
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w") as tar:
            folder = tarfile.TarInfo("conducto")
            folder.type, folder.mode, folder.mtime = tarfile.DIRTYPE, 0o755, int(time.time())
            tar.addfile(folder)
            files = {CMD_PATH: data}
            if self.spec.call is not None:
                files[CALL_PATH] = b"C\n" + base64.b64encode(self.spec.call)
            for path, content in files.items():
                entry = tarfile.TarInfo(path.lstrip("/"))
                entry.size, entry.mode, entry.mtime = len(content), 0o755, int(time.time())
                tar.addfile(entry, io.BytesIO(content))
        with self._daemon_errors():
            self.api.put_archive(self.id, "/", archive.getvalue())

    def _call_line(self) -> str:
        boot = f"{PACKAGE_MOUNT}/conducto_nb/backends/docker/boot.py"
        return f"exec python3 {boot} {CALL_MARK} < {CALL_PATH}"

    def _remove(self) -> None:
        docker = import_docker()
        if self._socket is not None:
            guard.forget_container(self._socket, self.id)
        with contextlib.suppress(docker.errors.NotFound):
            self.api.remove_container(self.id, force=True)
        self.api.close()


def start_container(spec: NodeSpec, live: bool = False) -> ContainerSession:
    """Start the node's container and put its command in /conducto/cmd.sh. With `live`, the
    host's folders of the image's code are mounted read-write where the image has them."""
    job = spec.job
    assert spec.image_tag is not None
    if live and not spec.code_dirs:
        raise PipelineError(
            "--live mounts the host's copy of the image's code, and this node's image has "
            "none: give it a co.Image with copy_dir or copy_repo (or a path_map)",
            path=spec.path,
        )
    args = parse_run_args(job.docker_run_args, spec.path)  # the backend's allowlist
    api = _connect()
    docker = import_docker()
    url = _daemon_url()
    socket_path = url.removeprefix("unix://") if url.startswith("unix://") else None
    try:
        ncpu = float(api.info().get("NCPU") or os.cpu_count() or 1)
        host = dict(args.host)
        host["nano_cpus"] = int(min(job.cpu, ncpu) * 1e9)
        host["mem_limit"] = host["memswap_limit"] = max(int(job.mem * 2**30), 6 * 2**20)
        binds = list(host.get("binds", []))
        if socket_path is not None:  # co.data's commands, as the backend lends them
            binds.append(f"{_PACKAGE}:{PACKAGE_MOUNT}/conducto_nb:ro")
        if job.requires_docker:
            binds += docker_binds(socket_path, url, spec.path)
        if live:
            binds += [f"{outside}:{inside}:rw" for outside, inside in spec.code_dirs.items()]
        if binds:
            host["binds"] = binds
        if DATA_URL in job.env:
            host["extra_hosts"] = {DATA_HOST: "host-gateway", **host.get("extra_hosts", {})}
        labels = {
            **args.create.pop("labels", {}),
            DEBUG_LABEL: spec.run.id,
            NODE_LABEL: spec.path,
            OWNER_LABEL: str(os.getpid()),
        }
        cid = api.create_container(
            spec.image_tag,
            _WAIT,
            environment=_with_path(api, spec, socket_path is not None),
            labels=labels,
            host_config=api.create_host_config(init=True, **host),
            **args.create,
        )["Id"]
    except docker.errors.ImageNotFound:
        api.close()
        raise BackendError(
            f"image {spec.image_tag} is not on the Docker daemon (build or pull it first)",
            path=spec.path,
        ) from None
    except docker.errors.APIError as e:
        api.close()
        raise BackendError(f"cannot start a debug container: {e.explanation or e}") from None
    except (docker.errors.DockerException, OSError) as e:
        api.close()
        close_sockets_left_in(e)
        raise BackendError(f"no Docker daemon answers at {url}: {_one_line(e)}") from None
    session = ContainerSession(spec, api, cid, socket_path)
    try:
        api.start(cid)
        if socket_path is not None:  # it goes when this process does, however it ends
            guard.watch_container(socket_path, cid, grace=1.5)
        session._write_command()
    except BaseException:
        session.stop()
        raise
    return session


def _with_path(api: Any, spec: NodeSpec, lent: bool) -> dict[str, str]:
    """The job's env, with the image's PATH extended as the backend's worker extends it (the
    lent docker CLI, co.data's commands), so a shell entered with `docker exec` has them."""
    job = spec.job
    extra = ["/usr/local/bin"] if job.requires_docker else []
    if DATA_URL in job.env and lent:
        extra.append(f"{PACKAGE_MOUNT}/conducto_nb/data/bin")
    if not extra or "PATH" in job.env:
        return job.env
    config = api.inspect_image(spec.image_tag).get("Config") or {}
    image_env = dict(item.split("=", 1) for item in config.get("Env") or [] if "=" in item)
    path = image_env.get("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    return {**job.env, "PATH": ":".join([path, *extra])}


def clean(everything: bool = False) -> list[str]:
    """Remove the debug containers whose process is gone (`everything`: all of them); their
    ids. For `conducto-nb debug clean`."""
    api = _connect()
    docker = import_docker()
    removed = []
    try:
        for found in api.containers(all=True, filters={"label": DEBUG_LABEL}):
            owner = (found.get("Labels") or {}).get(OWNER_LABEL, "")
            if everything or not _alive(owner):
                with contextlib.suppress(docker.errors.NotFound):
                    api.remove_container(found["Id"], force=True)
                removed.append(found["Id"])
    except (docker.errors.DockerException, OSError) as e:
        close_sockets_left_in(e)
        raise BackendError(f"no Docker daemon answers at {_daemon_url()}: {_one_line(e)}") from None
    finally:
        api.close()
    return removed


def _alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except PermissionError:
        return True
    except (ValueError, OSError):
        return False
    return True
