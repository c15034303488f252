"""`%co_debug` on the Docker backend, in a real IPython shell (globalipapp) with real
containers: the debug container has the node's image, env (secrets masked when printed),
limits, labels and command; an edited cell fixes a failing node and `apply()` turns it done;
`--failed` keeps what the command left; `--live` edits reach the host; a NEW reuse subtree is
replayed; requires_docker gets the socket; containers go with `stop()`, with the process, and
with `conducto-nb debug clean`; a daemon that does not answer is one clear error."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cloudpickle
import pytest
from backend_kit import BUSYBOX, PYTHON
from IPython.testing import globalipapp

import conducto_nb as co
from conducto_nb.debug import DebugSession, stop_all
from conducto_nb.debug.container import DEBUG_LABEL
from tests.wait_kit import wait_for

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the image has no tests/
SECRET = "s3cr3t-in-the-container"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ip() -> Any:
    globalipapp.start_ipython()  # once per process; then get_ipython() is that shell
    shell = globalipapp.get_ipython()
    shell.run_line_magic("load_ext", "conducto_nb")
    return shell


@pytest.fixture(autouse=True)
def _stop_sessions() -> Iterator[None]:
    yield
    stop_all()


@pytest.fixture
def failing(ip: Any, monkeypatch: pytest.MonkeyPatch) -> co.Run:
    """A finished Docker run whose /build failed; its env holds a secret."""
    monkeypatch.setenv("DEBUG_TOKEN", SECRET)
    env = {"GREETING": "hello", "TOKEN": co.secret("DEBUG_TOKEN")}
    with co.Serial(image=BUSYBOX, env=env) as root:
        co.Exec(
            "echo $GREETING > /tmp/built.txt; echo half way; exit 3",
            name="build",
            cpu=0.5,
            mem=0.25,
            docker_run_args=["--label", "team=qa"],
        )
        co.Exec("echo after", name="after")
    run = root.start(backend="docker").wait()
    assert run["/build"].state == "error"
    ip.user_ns["run"] = run
    return run


def line(ip: Any, source: str) -> DebugSession:
    result = ip.run_cell(source)
    assert result.error_in_exec is None, result.error_in_exec
    session: DebugSession = result.result
    return session


def test_the_container_is_the_nodes(
    ip: Any, failing: co.Run, docker_client: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    session = line(ip, "%co_debug /build")
    out = capsys.readouterr().out
    cid = session.id  # type: ignore[attr-defined]
    seen = docker_client.api.inspect_container(cid)
    assert seen["Config"]["Image"] == BUSYBOX
    env = dict(item.split("=", 1) for item in seen["Config"]["Env"])
    assert env["GREETING"] == "hello" and env["TOKEN"] == SECRET
    assert env["CONDUCTO_NB_NODE"] == "/build" and env["CONDUCTO_PIPELINE_ID"] == failing.id
    assert seen["HostConfig"]["NanoCpus"] == int(0.5e9)
    assert seen["HostConfig"]["Memory"] == int(0.25 * 2**30)
    labels = seen["Config"]["Labels"]
    assert labels[DEBUG_LABEL] == failing.id and labels["team"] == "qa"
    assert not any("docker.sock" in b for b in seen["HostConfig"]["Binds"] or [])
    # What it printed: where it is, the env with the secret masked, how to enter it.
    assert f"debug container {cid[:12]} for /build of pipeline {failing.id}" in out
    assert "image busybox:latest, cpu 0.5, mem 0.25 GB" in out
    assert "TOKEN=***" in out and SECRET not in out
    assert f"enter it:  docker exec -it {cid[:12]} sh" in out
    script = session.exec("cat /conducto/cmd.sh", echo=False).output
    assert script.endswith("echo $GREETING > /tmp/built.txt; echo half way; exit 3\n")
    ran = session.run(echo=False)
    assert (ran.exit_code, ran.output) == (3, "half way\n")
    assert session.exec("echo $TOKEN", echo=False).output == "***\n"  # masked in output


def test_an_edited_cell_fixes_the_node_and_apply_turns_it_done(
    ip: Any, failing: co.Run, capsys: pytest.CaptureFixture[str]
) -> None:
    ip.run_cell("%%co_debug /build --as fix\necho $GREETING > /tmp/built.txt; cat /tmp/built.txt")
    out = capsys.readouterr().out
    assert "running the cell as /build's command in container" in out
    assert "hello\nexit code 0" in out
    ip.user_ns["fix"].apply().wait()
    assert failing["/build"].state == "done"
    assert failing["/build"].stdout == "hello\n"
    assert failing["/after"].state == "done"


def test_failed_keeps_the_container_as_the_command_left_it(
    ip: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    with co.Serial(image=BUSYBOX) as root:
        co.Exec("echo state > /tmp/state; sleep 300 & echo started; exit 4", name="serve")
    root.start(backend="docker").wait()
    session = line(ip, "%co_debug /serve --failed")
    out = capsys.readouterr().out
    assert "/serve exited 4; its last lines:\nstarted" in out
    assert "kept as the command left it: docker exec -it" in out
    assert session.exec("cat /tmp/state", echo=False).output == "state\n"
    assert "sleep 300" in session.exec("ps", echo=False).output  # what it started runs on


def test_requires_docker_gets_the_daemons_socket(ip: Any, docker_client: Any) -> None:
    with co.Serial(image=BUSYBOX) as root:
        co.Exec("docker ps -q --no-trunc", name="ps", requires_docker=True)
    root.start(backend="docker").wait()
    session = line(ip, "%co_debug /ps")
    ran = session.run(echo=False)
    assert ran.exit_code == 0, ran.output
    assert session.id in ran.output.split()  # type: ignore[attr-defined]


def test_co_data_reaches_the_runs_store_from_the_container(ip: Any) -> None:
    with co.Serial(image=PYTHON) as root:
        co.Exec("conducto-data-pipeline gets --name made/by-debug", name="read")
    run = root.start(backend="docker").wait()
    assert run["/read"].state == "error"  # nothing there yet
    session = line(ip, "%co_debug /read")
    put = session.exec("echo from-debug | conducto-data-pipeline puts --name made/by-debug")
    assert put.exit_code == 0, put.output
    assert session.run(echo=False).output == "from-debug\n"


def test_live_mode_edits_reach_the_host(ip: Any, tmp_path: Path, repo_name: str) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "app.txt").write_text("v1\n")
    image = co.Image(BUSYBOX, copy_dir=str(code), name=repo_name)
    with co.Serial(image=image) as root:
        co.Exec("cat app.txt", name="show")
    run = root.start(backend="docker").wait()
    assert run["/show"].state == "done", run["/show"].stderr
    session = line(ip, "%co_debug /show --live")
    assert session.run(echo=False).output == "v1\n"
    session.exec("echo v2 > app.txt", echo=False)
    assert (code / "app.txt").read_text() == "v2\n"
    (code / "app.txt").write_text("v3\n")
    assert session.run(echo=False).output == "v3\n"


def test_a_new_reuse_subtree_is_replayed_first(ip: Any, capsys: pytest.CaptureFixture[str]) -> None:
    with co.Serial(image=BUSYBOX, container_reuse_context=co.ContainerReuseContext.NEW) as root:
        co.Exec("echo one > /tmp/steps", name="first")
        co.Exec("echo two >> /tmp/steps", name="second")
        co.Exec("cat /tmp/steps; exit 1", name="third")
    run = root.start(backend="docker").wait()
    assert run["/third"].stdout == "one\ntwo\n"
    session = line(ip, "%co_debug /third")
    out = capsys.readouterr().out
    assert "replaying what runs before /third in its NEW reuse subtree" in out
    assert "/first, /second" in out
    assert session.run(echo=False).output == "one\ntwo\n"


def _halve(n: int) -> float:
    import os

    print("halving", n, os.environ["GREETING"])
    if n % 2:
        raise ValueError(f"{n} is odd")
    return n / 2


def test_a_python_callable_runs_in_the_container_as_the_backend_runs_it(ip: Any) -> None:
    with co.Serial(env={"GREETING": "hi"}) as root:
        co.Exec(_halve, 3, name="halve")
    run = root.start(backend="docker").wait()
    assert "ValueError: 3 is odd" in run["/halve"].stderr
    session = line(ip, "%co_debug /halve")
    ran = session.run(echo=False)
    assert ran.exit_code == 1
    # stdout and stderr, each in order (no order between the two streams)
    assert "halving 3 hi\n" in ran.output and "ValueError: 3 is odd" in ran.output
    assert session.exec("test -s /conducto/call && echo pickled", echo=False).output == "pickled\n"


def test_stop_removes_the_container(ip: Any, failing: co.Run, docker_client: Any) -> None:
    session = line(ip, "%co_debug /build")
    session.stop()
    gone = docker_client.containers.list(all=True, filters={"id": session.id})  # type: ignore[attr-defined]
    assert gone == []


def test_a_container_removed_under_it_is_one_clear_error(
    ip: Any, failing: co.Run, docker_client: Any
) -> None:
    session = line(ip, "%co_debug /build")
    docker_client.api.remove_container(session.id, force=True)  # type: ignore[attr-defined]
    with pytest.raises(co.PipelineError, match=r"/build: the debug container \w+ is gone"):
        session.run()


def _session_in_a_process(run_id: str, ending: str) -> str:
    """Start a debug session of /build in another process that then ends by `ending`; the
    container's id."""
    script = textwrap.dedent(
        f"""
        import os
        from conducto_nb.backends import guard
        from conducto_nb.debug import debug
        session = debug({run_id!r}, "/build", echo=False)
        print(session.id, flush=True)
        {ending}
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()[0]


def _exists(client: Any, cid: str) -> bool:
    return bool(client.containers.list(all=True, filters={"id": cid}))


def test_a_process_that_ends_takes_its_containers(failing: co.Run, docker_client: Any) -> None:
    cid = _session_in_a_process(failing.id, "pass")
    wait_for(lambda: not _exists(docker_client, cid), 60, "its debug container removed")


def test_debug_clean_removes_containers_whose_kernel_is_gone(
    ip: Any, failing: co.Run, docker_client: Any
) -> None:
    # The guard told to forget it, and no exit handler: as if both were lost.
    ending = "guard.forget_container('/var/run/docker.sock', session.id); os._exit(0)"
    cid = _session_in_a_process(failing.id, ending)
    assert _exists(docker_client, cid)
    mine = line(ip, f"%co_debug {failing.id} /build")  # a live kernel's: kept
    done = subprocess.run(
        [sys.executable, "-m", "conducto_nb.cli", "debug", "clean"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert "removed" in done.stdout
    assert not _exists(docker_client, cid)
    assert _exists(docker_client, mine.id)  # type: ignore[attr-defined]


def test_a_daemon_that_does_not_answer_is_one_clear_error(
    ip: Any, failing: co.Run, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    ip.run_cell("%co_debug /build")
    shown = capsys.readouterr().out
    assert "BackendError: no Docker daemon answers at unix:///nonexistent/docker.sock" in shown
    assert "conducto_nb/" not in shown
    assert os.environ["DOCKER_HOST"].startswith("unix:///nonexistent")
