"""`%co_debug` / `%%co_debug` in a real IPython shell (IPython's globalipapp), on the local
backend: a shell environment with the node's env and working directory, the cell body as the
node's command, `apply()` writing it back, `--failed`, the errors a user meets, and the graph
panel's debug button. The Docker sessions are tests/docker/test_debug_docker.py."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.testing import globalipapp

import conducto_nb as co
from conducto_nb.debug import DebugSession, stop_all
from conducto_nb.debug.session import OPEN
from conducto_nb.run import runs

SECRET = "s3cr3t-debug-value"


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
def failing(ip: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> co.Run:
    """A finished local run whose /build failed after writing a file; it has a stored secret."""
    monkeypatch.setenv("CONDUCTO_NB_HOME", str(tmp_path / "home"))
    co.api.Secrets().put_user_secrets({"DEBUG_TOKEN": SECRET})
    with co.Serial(env={"GREETING": "hello"}) as root:
        co.Exec("echo prepared", name="prepare")
        co.Exec("echo $GREETING > built.txt; echo half way; exit 3", name="build")
        co.Exec("cat built.txt", name="after")
    run = root.start(backend="local").wait()
    assert run["/build"].state == "error"
    ip.user_ns["run"] = run
    return run


def cell(ip: Any, source: str) -> Any:
    """Run a cell; its result (the value of its last expression)."""
    result = ip.run_cell(source)
    return result.result


def test_load_ext_registers_the_line_and_the_cell_magic(ip: Any) -> None:
    magics = ip.magics_manager.magics
    assert "co_debug" in magics["line"] and "co_debug" in magics["cell"]


def test_the_line_magic_gives_a_local_shell_with_the_nodes_env_and_folder(
    ip: Any, failing: co.Run, capsys: pytest.CaptureFixture[str]
) -> None:
    session = cell(ip, "%co_debug /build")
    out = capsys.readouterr().out
    assert isinstance(session, DebugSession)
    assert "a local shell environment for /build" in out
    assert "the local backend runs no containers" in out
    assert "GREETING=hello" in out and "DEBUG_TOKEN=***" in out and SECRET not in out
    assert "echo $GREETING > built.txt" in out
    assert f"enter it:  {session.entering()}" in out
    # The env is the node's, the secret's value included; what is printed masks it.
    ran = session.exec(
        'echo "$GREETING"; test "$DEBUG_TOKEN" = ' + SECRET + " && echo $DEBUG_TOKEN"
    )
    assert ran.output == "hello\n***\n"
    assert capsys.readouterr().out == "hello\n***\n"
    # Its folder is the pipeline's work folder, where the failed attempt left its file.
    assert session.exec("cat built.txt", echo=False).output == "hello\n"
    ran = session.run(echo=False)
    assert (ran.exit_code, ran.output) == (3, "half way\n")
    assert session.logs().endswith("half way\n")


def test_an_edited_cell_fixes_the_node_and_apply_reruns_it(
    ip: Any, failing: co.Run, capsys: pytest.CaptureFixture[str]
) -> None:
    cell(ip, "%%co_debug /build --as fix\necho $GREETING > built.txt; echo fixed")
    out = capsys.readouterr().out
    assert "running the cell as /build's command in a local shell" in out
    assert "fixed\nexit code 0" in out
    fix = ip.user_ns["fix"]
    assert fix.command.strip() == "echo $GREETING > built.txt; echo fixed"
    fix.apply().wait()
    assert failing["/build"].state == "done"
    assert failing["/build"].stdout == "fixed\n"
    assert failing["/after"].state == "done"  # what the failure held back went on
    assert failing["/after"].stdout == "hello\n"


def test_failed_runs_the_command_and_keeps_what_it_left(
    ip: Any, failing: co.Run, capsys: pytest.CaptureFixture[str]
) -> None:
    session = cell(ip, "%co_debug run /build --failed")
    out = capsys.readouterr().out
    assert "/build exited 3; its last lines:\nhalf way" in out
    assert session.last is not None and session.last.exit_code == 3
    assert session.exec("cat built.txt", echo=False).output == "hello\n"


def test_live_mode_works_in_the_hosts_copy_of_the_code(ip: Any, tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "app.txt").write_text("v1\n")
    with co.Serial(image=co.Image(copy_dir=str(code))) as root:
        co.Exec("cat app.txt", name="show")
    run = root.start(backend="local").wait()
    assert run["/show"].stdout == "v1\n"
    session = cell(ip, "%co_debug /show --live")
    session.exec("echo v2 > app.txt", echo=False)
    assert (code / "app.txt").read_text() == "v2\n"
    assert session.run(echo=False).output == "v2\n"


def test_a_new_reuse_subtree_is_replayed_first(ip: Any, capsys: pytest.CaptureFixture[str]) -> None:
    with co.Serial(container_reuse_context=co.ContainerReuseContext.NEW) as root:
        co.Exec("echo one > steps.txt", name="first")
        co.Exec("echo two >> steps.txt", name="second")
        co.Exec("cat steps.txt; rm steps.txt; exit 1", name="third")
    run = root.start(backend="local").wait()
    assert run["/third"].stdout == "one\ntwo\n"
    session = cell(ip, "%co_debug /third")
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


def test_a_python_callable_runs_as_the_backend_runs_it(
    ip: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    with co.Serial(env={"GREETING": "hi"}) as root:
        co.Exec(_halve, 3, name="halve")
    root.start(backend="local").wait()
    session = cell(ip, "%co_debug /halve")
    assert "_halve(3)  (a Python callable, run as the backend runs it)" in capsys.readouterr().out
    ran = session.run(echo=False)
    assert ran.exit_code == 1
    # stdout and stderr, each in order (no order between the two streams)
    assert "halving 3 hi\n" in ran.output and "ValueError: 3 is odd" in ran.output
    result = ip.run_cell("%%co_debug /halve\necho instead")
    assert isinstance(result.error_in_exec, co.CommandError)
    assert "is a Python callable: %%co_debug would run a shell command" in str(result.error_in_exec)


def test_stop_ends_the_session(ip: Any, failing: co.Run) -> None:
    session = cell(ip, "%co_debug /build")
    folder = session.folder
    assert (folder / "cmd.sh").read_text().endswith("exit 3\n")
    assert session in OPEN
    session.stop()
    assert not folder.exists()
    assert session not in OPEN  # nor does it hold its run any longer
    with pytest.raises(co.PipelineError, match="stopped"):
        session.run()
    session.stop()  # twice is fine


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("%co_debug /nope", "no node at `/nope`; / has: prepare, build, after"),
        ("%co_debug no-such-pipeline /build", "no-such-pipeline"),
        ("%co_debug /", "is a Serial: %co_debug debugs one Exec (below it: /prepare, /build"),
        ("%co_debug /build --bogus", "unknown option '--bogus'"),
        ("%co_debug a b c", "expected a node's PATH"),
    ],
)
def test_bad_input_says_what_is_wrong_without_internal_frames(
    ip: Any, failing: co.Run, capsys: pytest.CaptureFixture[str], line: str, says: str
) -> None:
    result = ip.run_cell(line)
    out = capsys.readouterr()
    shown = out.out + out.err
    assert result.error_in_exec is not None or result.error_before_exec is not None
    assert says in shown
    assert "conducto_nb/" not in shown  # no frame of the package


def test_with_no_run_yet_it_says_how_to_name_one(
    ip: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(runs, "_LAST", [])
    ip.run_cell("%co_debug /build")
    shown = capsys.readouterr().out
    assert "no pipeline has been started or shown in this kernel yet" in shown
    assert "%co_debug PIPELINE_ID PATH" in shown


def test_the_graph_panels_debug_button_answers_the_line_to_enter_it(failing: co.Run) -> None:
    from conducto_nb.widget.run_sources import source_for

    source = source_for(failing)
    assert "debug" in source.actions()
    source.act("debug", "/build", {})
    assert source.note is not None
    assert source.note.startswith("debug a local shell: sh -c ")
    assert "its command ran there and exited 3" in source.note


def test_debug_clean_without_a_daemon_says_which_one_it_asked() -> None:
    env = {**os.environ, "DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    done = subprocess.run(
        [sys.executable, "-m", "conducto_nb.cli", "debug", "clean"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 1
    assert done.stdout.startswith("error: no Docker daemon answers at unix:///nonexistent")
    assert "Traceback" not in done.stdout + done.stderr
