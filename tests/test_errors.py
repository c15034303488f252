"""Errors as a user meets them: one message naming what is wrong and where, with the user's
own frames and none of conducto_nb's, in a real kernel; and a missing path says what exists."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

import conducto_nb as co
from conducto_nb.errors import NodeNotFound, user_traceback


def ci_tree() -> co.Serial:
    with co.Serial() as root:
        co.Exec("pip install .", name="install")
        with co.Parallel(name="test"):
            co.Exec("pytest", name="unit")
            co.Exec("ruff check .", name="lint")
    return root


def test_a_missing_path_names_what_exists_there_and_the_nearest_path() -> None:
    root = ci_tree()
    with pytest.raises(NodeNotFound) as caught:
        root["/test/unti"]
    message = str(caught.value)
    assert "no node at `/test/unti`" in message
    assert "/test has: unit, lint" in message
    assert "did you mean `/test/unit`?" in message
    with pytest.raises(KeyError, match="/ has: install, test"):  # still a KeyError
        root["/nope/deeper"]


def test_a_missing_path_of_a_run_says_the_same() -> None:
    run = ci_tree().run(backend="local")
    with pytest.raises(NodeNotFound, match=r"did you mean `/test/lint`\?"):
        run["/test/lnt"]


def _raise_from_user_code() -> co.PipelineError:
    try:
        co.Exec("true", cpus=2)
    except co.PipelineError as e:
        return e
    raise AssertionError("no error")


def test_the_traceback_keeps_the_users_frames_and_drops_the_librarys() -> None:
    lines = "\n".join(user_traceback(_raise_from_user_code()))
    assert "_raise_from_user_code" in lines and 'co.Exec("true", cpus=2)' in lines
    assert "conducto_nb/model" not in lines
    assert lines.rstrip().endswith("did you mean `cpu`?)")
    assert "ParameterError: " in lines


@pytest.fixture(scope="module")
def kernel() -> Iterator[Any]:
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3")
    try:
        yield kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def _error_of(kc: Any, code: str) -> dict[str, Any]:
    msgs: list[dict[str, Any]] = []
    kc.execute_interactive(code, output_hook=msgs.append, timeout=60)
    (error,) = [m["content"] for m in msgs if m["msg_type"] == "error"]
    error["shown"] = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(error["traceback"]))  # no colours
    return error


def test_in_a_kernel_a_typo_shows_one_message_without_library_frames(kernel: Any) -> None:
    error = _error_of(kernel, 'import conducto_nb as co\nco.Exec("true", cpus=2)')
    shown = error["shown"]
    assert error["ename"] == "ParameterError"
    assert 'co.Exec("true", cpus=2)' in shown  # the user's own line
    assert "unknown parameter `cpus` (did you mean `cpu`?)" in shown
    assert "conducto_nb/" not in shown and "site-packages" not in shown


def test_in_a_kernel_other_errors_keep_their_whole_traceback(kernel: Any) -> None:
    error = _error_of(kernel, "def f():\n    return 1 / 0\nf()")
    assert error["ename"] == "ZeroDivisionError"
    assert "return 1 / 0" in error["shown"]


def test_a_callable_from_a_cell_that_fails_shows_the_cells_lines(kernel: Any) -> None:
    """cloudpickle would call the code "<dynamic-code>" in the worker, with no source line."""
    code = (
        "def build_report(n):\n"
        "    total = n * 2\n"
        "    raise ValueError(f'bad total {total}')\n"
        "with co.Serial() as root:\n"
        "    co.Exec(build_report, 21, name='report')\n"
        "print(root.run(backend='local')['/report'].stderr)\n"
    )
    msgs: list[dict[str, Any]] = []
    kernel.execute_interactive(
        "import conducto_nb as co\n" + code, output_hook=msgs.append, timeout=60
    )
    printed = "".join(m["content"]["text"] for m in msgs if m["msg_type"] == "stream")
    assert "raise ValueError(f'bad total {total}')" in printed, printed
    assert "in build_report" in printed and "<dynamic-code>" not in printed
    assert "ValueError: bad total 42" in printed


def _script(tmp_path: Any, code: str, **env: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "pipeline.py"
    script.write_text(code)
    return subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )


def test_a_scripts_uncaught_error_shows_its_own_line_and_the_message(tmp_path: Any) -> None:
    done = _script(tmp_path, 'import conducto_nb as co\nco.Exec("true", cpus=2)\n')
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "Traceback (most recent call last):",
        f'  File "{tmp_path / "pipeline.py"}", line 2, in <module>',
        '    co.Exec("true", cpus=2)',
        "ParameterError: /: unknown parameter `cpus` (did you mean `cpu`?)",
    ]
    full = _script(
        tmp_path,
        'import conducto_nb as co\nco.Exec("true", cpus=2)\n',
        CONDUCTO_NB_TRACEBACK="full",
    )
    assert "conducto_nb/model" in full.stderr  # every frame, when asked


def test_an_error_from_the_run_thread_hides_the_frames_that_carried_it(tmp_path: Any) -> None:
    code = (
        "import conducto_nb as co\n"
        "with co.Serial() as root:\n"
        '    co.Exec("true", name="a")\n'
        'root.run(backend="docker")\n'
    )
    done = _script(tmp_path, code, DOCKER_HOST=f"unix://{tmp_path}/no-daemon.sock")
    lines = done.stderr.splitlines()
    assert done.returncode == 1 and lines[-2:-1] == ['    root.run(backend="docker")']
    assert lines[-1].startswith(f"DaemonGone: no Docker daemon answers at unix://{tmp_path}")
    assert "concurrent/futures" not in done.stderr and "conducto_nb/" not in done.stderr


def test_other_errors_keep_pythons_own_display(tmp_path: Any) -> None:
    code = "import conducto_nb as co\ndef mine():\n    raise ValueError('mine')\nmine()\n"
    lines = _script(tmp_path, code).stderr.splitlines()
    assert lines[-2:] == [
        "    raise ValueError('mine')",
        "ValueError: mine",
    ]
    assert any("in mine" in line for line in lines)
