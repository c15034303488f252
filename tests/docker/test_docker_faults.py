"""What the Docker backend refuses and survives: docker_run_args off the allowlist, unknown
images, no daemon, a daemon that stops mid-run, orphaned containers; and what requires_docker
and the allowed flags give a container."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

import pytest
from backend_kit import BUSYBOX, PIPELINE, in_thread, opened, printed, run, shell
from docker import errors as docker_errors

import conducto_nb as co
from conducto_nb.backends import choice
from conducto_nb.backends.docker.args import BACKEND_LABEL, parse_run_args
from conducto_nb.backends.docker.backend import DockerBackend, clean_orphans
from conducto_nb.errors import BackendError
from conducto_nb.model.states import State
from conducto_nb.run import launch
from conducto_nb.run.loop import background_loop
from conducto_nb.store.pipelines import Store
from tests.async_kit import Sink
from tests.wait_kit import until


def test_run_args_map_to_sdk_keywords() -> None:
    args = parse_run_args(
        [
            *["--network=none", "-v", "/a:/b:ro", "-v/data", "--tmpfs", "/t:size=1m"],
            *["-u", "1000", "--ulimit", "nofile=256:512", "--add-host=db:10.0.0.1"],
            *["--read-only", "-l", "a=b"],
        ]
    )
    assert args.host == {
        "network_mode": "none",
        "binds": ["/a:/b:ro"],
        "tmpfs": {"/t": "size=1m"},
        "ulimits": [{"name": "nofile", "soft": 256, "hard": 512}],
        "extra_hosts": {"db": "10.0.0.1"},
        "read_only": True,
    }
    assert args.create == {"volumes": ["/data"], "user": "1000", "labels": {"a": "b"}}


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--privileged"], "--privileged is not allowed: privileged containers"),
        (["--cpus", "2"], "--cpus is not allowed: the backend sets it from the node's `cpu`"),
        (["-m512m"], "-m is not allowed: the backend sets it from the node's `mem`"),
        (["-e", "A=1"], "-e is not allowed: the backend sets it from the node's `env`"),
        (["--rm"], "--rm is not allowed: the backend manages its containers' life"),
        (["--bogus=1"], "--bogus is not supported; the allowed flags are: --add-host"),
        (["--label", "conducto_nb.pipeline=x"], "bad value for --label"),
        (["--network"], "--network needs a value"),
    ],
)
def test_prepare_refuses_run_args_naming_the_node_and_the_flag(args: list[str], says: str) -> None:
    async def body() -> None:
        async with opened() as backend:
            jobs = [shell("true", path="/fine"), shell("true", path="/bad", docker_run_args=args)]
            with pytest.raises(BackendError) as caught:
                await backend.prepare(PIPELINE, jobs)
            assert str(caught.value).startswith("/bad: `docker_run_args`: ")
            assert says in str(caught.value)
            assert backend.containers() == []

    in_thread(body)


def test_allowed_run_args_shape_the_container(docker_client: Any) -> None:
    args = ["--workdir", "/tmp", "-u", "1000", "--tmpfs", "/scratch", "--read-only"]
    args += ["--label", "team=qa", "--network=none", "--add-host", "db:10.1.2.3"]
    args += ["--ulimit", "nofile=256:512", "--cap-drop", "ALL", "--pids-limit", "50"]
    args += ["-v", "/etc/hostname:/from-host:ro", "--security-opt", "no-new-privileges"]
    cmd = (
        "pwd; id -u; touch /x 2>/dev/null || echo read-only; touch /scratch/f && echo tmpfs; "
        "ulimit -n; grep -c db /etc/hosts; ls /sys/class/net; test -s /from-host && echo bound"
    )

    async def body() -> None:
        async with opened() as backend:
            await backend.prepare(PIPELINE, [shell(cmd, docker_run_args=args)])
            out, sink = await run(backend, shell(cmd, docker_run_args=args))
            assert out.state == State.DONE, sink.text("stderr")
            assert sink.text("stdout").split() == [
                "/tmp",
                "1000",
                "read-only",
                "tmpfs",
                "256",
                "1",
                "lo",
                "bound",
            ]
            (cid,) = backend.containers()
            attrs = docker_client.containers.get(cid).attrs
            assert attrs["Config"]["Labels"]["team"] == "qa"
            assert attrs["HostConfig"]["PidsLimit"] == 50
            assert attrs["HostConfig"]["CapDrop"] == ["ALL"]

    in_thread(body)


def test_prepare_refuses_unknown_images_at_once_naming_them_and_their_nodes() -> None:
    async def body() -> None:
        async with opened() as backend:
            jobs = [
                shell("true", image="nope/missing:1", path="/a"),
                shell("true", image="nope/missing:1", path="/b"),
                shell("true", image="other/missing:2", path="/c"),
                shell("true", path="/ok"),
            ]
            with pytest.raises(BackendError) as caught:
                await backend.prepare(PIPELINE, jobs)
            text = str(caught.value)
            assert "nope/missing:1: needed by /a, /b" in text
            assert "other/missing:2: needed by /c" in text
            assert "/ok" not in text and backend.containers() == []

    in_thread(body)


def test_a_pipeline_with_an_unknown_image_fails_before_anything_runs(tmp_path: Path) -> None:
    backend = DockerBackend()
    with co.Serial(image=BUSYBOX) as root:
        co.Exec(f"touch {tmp_path}/ran", name="first")
        co.Exec("true", name="second", image="nope/missing:1")
    try:
        with pytest.raises(BackendError, match=r"nope/missing:1: needed by /second"):
            launch.run(root, backend=backend, workdir=tmp_path, persist=False)
        assert not (tmp_path / "ran").exists()
    finally:
        background_loop().submit(backend.close()).result()


def test_no_daemon_is_one_clear_error_from_open() -> None:
    backend = DockerBackend(base_url="unix:///tmp/conducto-nb-no-such/docker.sock")
    with pytest.raises(BackendError) as caught:
        in_thread(backend.open)
    assert str(caught.value).startswith(
        "no Docker daemon answers at unix:///tmp/conducto-nb-no-such/docker.sock: "
    )
    out = in_thread(lambda: backend.run(shell("true"), lambda s, t: None, lambda: None))
    assert out.state == State.WORKER_ERROR


def open_sockets() -> int:
    """How many sockets this process holds open."""
    fds = [f"/proc/self/fd/{fd}" for fd in os.listdir("/proc/self/fd")]
    return sum(os.readlink(fd).startswith("socket:") for fd in fds if os.path.exists(fd))


def test_failed_connects_to_a_missing_daemon_leave_no_socket_open(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """docker-py drops the socket of a failed unix connect: the backend closes it, so a kernel
    retrying a dead daemon does not run out of descriptors (nor warn at random moments)."""
    nowhere = "unix:///tmp/conducto-nb-no-such/docker.sock"
    before = open_sockets()
    for _ in range(5):
        backend = DockerBackend(base_url=nowhere)
        with pytest.raises(BackendError):
            in_thread(backend.open)
    assert open_sockets() == before
    # Choosing the default backend asks the daemon too, and so does building an Image alone.
    monkeypatch.setenv("DOCKER_HOST", nowhere)
    assert [choice._docker_answers() for _ in range(5)] == [False] * 5
    for _ in range(5):
        with pytest.raises(BackendError, match="no Docker daemon answers"):
            co.Image(dockerfile_text=f"FROM {BUSYBOX}\n").build()
    assert open_sockets() == before


def test_requires_docker_gives_the_daemon_to_that_node_only() -> None:
    async def body() -> None:
        async with opened() as backend:
            # This backend's containers only: tests running beside it use the same pipeline id.
            ps = f"docker ps -q --no-trunc --filter label={BACKEND_LABEL}={backend.id}"
            out, sink = await run(backend, shell(ps, requires_docker=True))
            assert out.state == State.DONE, sink.text("stderr")
            assert set(sink.text("stdout").split()) == set(backend.containers())  # itself
            out, sink = await run(backend, shell("test -S /var/run/docker.sock"))
            assert (out.state, out.exit_code) == (State.ERROR, 1)
            out, sink = await run(backend, shell("command -v docker || echo none"))
            assert sink.text("stdout") == "none\n"

    in_thread(body)


class Proxy:
    """A unix socket forwarding to the real daemon: stopping it is, to the backend, the
    daemon stopping (without stopping the daemon other tests use)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.conns: list[socket.socket] = []
        self.listener: socket.socket | None = None
        self.lock = threading.Lock()  # a connection accepted as stop() runs is closed, not lost

    def start(self) -> None:
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(self.path)
        listener.listen()
        listener.settimeout(0.05)
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self.lock:
                if self.listener is not listener:  # stopped meanwhile: as if never accepted
                    client.close()
                    return
                client.settimeout(None)
                daemon = socket.socket(socket.AF_UNIX)
                daemon.connect("/var/run/docker.sock")
                self.conns += [client, daemon]
            for a, b in ((client, daemon), (daemon, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def stop(self) -> None:
        with self.lock:
            if self.listener is None:
                return
            self.listener.close()
            self.listener = None
            os.unlink(self.path)
            for conn in self.conns:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()
            self.conns.clear()


def test_a_daemon_that_stops_mid_run_fails_running_jobs_and_the_backend_recovers(
    docker_client: Any,
) -> None:
    where = tempfile.mkdtemp(prefix="co-nb-")
    proxy = Proxy(f"{where}/docker.sock")
    proxy.start()
    url = f"unix://{proxy.path}"

    async def body() -> None:
        async with opened(base_url=url) as backend:
            sink = Sink()
            job = shell("echo up; sleep 30", pipeline="stop")
            task = asyncio.create_task(backend.run(job, sink, sink.started))
            await printed(sink, "up")
            (gone,) = backend.containers()
            proxy.stop()
            out = await task
            assert out.state == State.WORKER_ERROR
            assert out.message is not None
            assert out.message.startswith(
                f"the Docker daemon stopped: no Docker daemon answers at {url}"
            )
            assert sink.text("stdout") == "up\n"
            out, _ = await run(backend, shell("true", pipeline="stop"))
            assert out.state == State.WORKER_ERROR and url in (out.message or "")
            proxy.start()  # the daemon is back
            out, sink = await run(backend, shell("echo back", pipeline="stop"))
            assert out.state == State.DONE and sink.text("stdout") == "back\n"
            await until(  # the lost container ended itself: its stdin closed
                lambda: gone not in [c["Id"] for c in docker_client.api.containers(all=True)],
                what="the container whose daemon connection broke ended",
            )

    try:
        in_thread(body)
    finally:
        proxy.stop()
        os.rmdir(where)


def test_clean_orphans_removes_containers_whose_owner_died(
    docker_client: Any, tmp_path: Path
) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    made = []
    try:
        for owner in (dead.pid, os.getpid()):
            labels = {
                "conducto_nb.pipeline": "orphan-test",
                "conducto_nb.pool": "x",
                "conducto_nb.owner_pid": str(owner),
            }
            made.append(
                docker_client.containers.run(BUSYBOX, ["sleep", "60"], detach=True, labels=labels)
            )
        with Store(tmp_path / "store.db") as store:
            removed = clean_orphans(store)
        assert made[0].id in removed and made[1].id not in removed
        ids = [c.id for c in docker_client.containers.list(all=True, sparse=True)]
        assert made[0].id not in ids and made[1].id in ids
    finally:
        for container in made:
            with contextlib.suppress(docker_errors.NotFound):
                container.remove(force=True)


def test_a_dead_owners_containers_go_at_once(docker_client: Any, tmp_path: Path) -> None:
    """SIGKILL the owner while a container runs `sleep 60`: the container goes at once (it
    used to live until its job ended, beside any rerun's new attempt)."""
    import signal
    import sys
    import textwrap
    import time

    owner = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
                import time
                import conducto_nb as co
                with co.Serial(image={BUSYBOX!r}) as root:
                    co.Exec("sleep 60", name="wait")
                run = root.start(backend="docker")
                while run["/wait"].state is not co.State.RUNNING:
                    time.sleep(0.02)
                print(run.id, flush=True)
                time.sleep(120)
            """),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert owner.stdout is not None
    pipeline_id = owner.stdout.readline().strip()
    label = {"label": f"conducto_nb.pipeline={pipeline_id}"}
    assert docker_client.containers.list(filters=label), "its container runs"
    owner.send_signal(signal.SIGKILL)
    owner.wait(timeout=10)
    owner.stdout.close()
    deadline = time.monotonic() + 30  # a generous wait; the job alone would take 60 s
    while docker_client.containers.list(all=True, filters=label):
        assert time.monotonic() < deadline, "the dead owner's container still runs its job"
        time.sleep(0.2)


def test_cli_detach_with_a_missing_image_is_one_line_before_anything_is_recorded(
    tmp_path: Path,
) -> None:
    """The error reaches the user, not a detached process's log: exit 2, one line, no pipeline
    left `pending` for good and no empty work folder."""
    import sys

    detached_docker = ("--backend", "docker", "--detach")
    script = tmp_path / "pipe.py"
    script.write_text(
        "import conducto_nb as co\n\n"
        "def build():\n"
        "    return co.Exec('true', image='conducto-nb-test/no-such-image:1', name='a')\n"
    )
    home = tmp_path / "home"
    out = subprocess.run(
        [sys.executable, "-m", "conducto_nb.cli", "run", f"{script}:build", *detached_docker],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "CONDUCTO_NB_HOME": str(home)},
    )
    assert out.returncode == 2, out.stdout + out.stderr
    assert "conducto-nb-test/no-such-image:1: needed by /\n" in out.stdout
    assert "Traceback" not in out.stdout + out.stderr
    if (home / "store.db").exists():
        assert Store(home / "store.db").list_pipelines() == []
    assert not list(home.glob("work/*"))
