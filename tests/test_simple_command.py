"""A command that needs no shell runs without one (one program start less per node), and a
user sees exactly what the shell would have given: output, exit codes, messages, PWD."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from conducto_nb.backends.local import backend as local_backend
from conducto_nb.backends.local.backend import LocalBackend
from conducto_nb.backends.simple_command import simple_words
from conducto_nb.model.states import State
from tests.async_kit import in_thread
from tests.test_local_backend import run, shell


@pytest.mark.parametrize(
    "command",
    ["pytest tests/unit -q", "pip install -e . ", "ruff check .", "make -j4 all", "ls"],
)
def test_plain_words_are_a_simple_command(command: str) -> None:
    assert simple_words(command) == command.split()


@pytest.mark.parametrize(
    "command",
    [
        "",
        "   ",
        "echo hi",  # a builtin, which can differ from /bin/echo
        "cd sub",
        "true",
        "FOO=1 make",  # an assignment
        "if true",  # a reserved word
        "ls *.py",
        "pip install .[test]",
        "ls ~/x",
        "make # a comment",
        "a | b",
        "a && b",
        "a; b",
        "a\nb",
        "cat <in",
        "echo $HOME",
        "echo `date`",
        "ls 'a b'",
        'ls "a"',
        "ls a\\ b",
        "ls {a,b}",
        "ls !x",
        "(ls)",
        "ls &",
    ],
)
def test_anything_the_shell_would_do_more_with_is_not(command: str) -> None:
    assert simple_words(command) is None


class _Spawned:
    """Records the argv of every process the local backend starts for a shell job."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.argvs: list[list[str]] = []
        real = local_backend.Child

        def child(argv: list[str], *args: Any, **kw: Any) -> Any:
            self.argvs.append(list(argv))
            return real(argv, *args, **kw)

        monkeypatch.setattr(local_backend, "Child", child)


def _by_shell(command: str, cwd: Path) -> tuple[int, str, str]:
    done = subprocess.run(["/bin/sh", "-c", command], cwd=cwd, capture_output=True, text=True)
    return done.returncode, done.stdout, done.stderr


def test_a_simple_command_runs_without_a_shell_and_gives_what_the_shell_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spawned = _Spawned(monkeypatch)
    (tmp_path / "data.txt").write_text("one\ntwo\n")
    (tmp_path / "sub").mkdir()

    async def body() -> None:
        backend = LocalBackend(2)
        try:
            for command in ("wc -l data.txt", "ls -a sub", "cat missing.txt"):
                out, sink = await run(backend, shell(command, tmp_path))
                code, stdout, stderr = _by_shell(command, tmp_path)
                assert (out.exit_code, sink.text("stdout")) == (code, stdout), command
                assert sink.text("stderr") == stderr
                assert spawned.argvs[-1] == command.split()  # no shell started
            spawned.argvs.clear()
            await run(backend, shell("echo hi", tmp_path))
            assert spawned.argvs == [["/bin/sh", "-c", "echo hi"]]
        finally:
            await backend.close()

    in_thread(body)


def test_its_environment_is_the_shells_own_pwd_included(tmp_path: Path) -> None:
    """The shell exports PWD, resolving the folder's links as it does: so does the direct
    start (a tool reading $PWD sees the node's folder, not the kernel's)."""
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    where = tmp_path / "link"

    async def body() -> None:
        backend = LocalBackend(2)
        try:
            out, sink = await run(backend, shell("env", where, env={"OWN": "job"}))
            assert out.state == State.DONE
            ours = dict(line.split("=", 1) for line in sink.text("stdout").splitlines())
            assert ours["PWD"] == str(real) == os.path.realpath(where)
            assert ours["OWN"] == "job"
            _, through_shell = await run(backend, shell("env | sort", where, env={"OWN": "job"}))
            theirs = dict(line.split("=", 1) for line in through_shell.text("stdout").splitlines())
            assert ours == theirs  # the same job through `sh -c`: the same environment
        finally:
            await backend.close()

    in_thread(body)


def test_what_the_words_cannot_start_gets_the_shells_own_answer(tmp_path: Path) -> None:
    """Not on PATH (127), not executable (126), a script without `#!` (the shell runs it):
    the same messages and codes as through the shell."""
    (tmp_path / "plain.txt").write_text("x\n")
    script = tmp_path / "no-shebang"
    script.write_text("echo from the script $1\n")
    script.chmod(0o755)

    async def body() -> None:
        backend = LocalBackend(2)
        try:
            for command, code in [
                ("no-such-program-4711 --flag", 127),
                ("./plain.txt", 126),
                ("./no-shebang arg", 0),
            ]:
                out, sink = await run(backend, shell(command, tmp_path))
                assert out.exit_code == code, command
                assert (code, sink.text("stdout"), sink.text("stderr")) == _by_shell(
                    command, tmp_path
                )
        finally:
            await backend.close()

    in_thread(body)
