"""Conducto-style scripts (`co.main()`), their options, and a kernel interrupt during a
blocking `root.run()`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import conducto_nb as co
from conducto_nb.main import load_pipeline, parse_options

SCRIPT = textwrap.dedent("""
    import conducto_nb as co

    def ci(branch: str = "main", shards: int = 2, fast: bool = False) -> co.Serial:
        with co.Serial() as root:
            for i in range(shards):
                co.Exec(f"echo {branch} {i}", name=f"shard-{i}")
            if fast:
                co.Exec("echo fast", name="fast")
        return root

    def other() -> co.Parallel:
        return co.Parallel()

    if __name__ == "__main__":
        co.main(default=ci)
""")


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "pipeline.py"
    path.write_text(SCRIPT)
    return path


def _py(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=60)


def test_script_prints_its_tree_by_default(script: Path) -> None:
    out = _py(str(script))
    assert out.returncode == 0, out.stderr
    assert "shard-1  Exec: echo main 1" in out.stdout


def test_script_commands_take_typed_options_and_run(script: Path) -> None:
    out = _py(str(script), "ci", "--branch=dev", "--shards", "3", "--fast", "--run")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "shard-2" in out.stdout and "fast" in out.stdout and ": done" in out.stdout


def test_script_rejects_an_unknown_command_or_option(script: Path) -> None:
    bad = _py(str(script), "nope")
    assert bad.returncode != 0 and "unknown command 'nope'" in bad.stderr
    bad = _py(str(script), "ci", "--shard=3")
    assert bad.returncode != 0 and "no option --shard" in bad.stderr


def test_parse_options_converts_by_annotation_and_default() -> None:
    def f(n: int, ratio: float = 0.5, flag: bool = False, name="x"):  # type: ignore[no-untyped-def]
        return None

    assert parse_options(f, ["--n=3", "--ratio", "2.5", "--flag", "--name=y"]) == {
        "n": 3,
        "ratio": 2.5,
        "flag": True,
        "name": "y",
    }
    with pytest.raises(co.CommandError, match="--n must be int"):
        parse_options(f, ["--n=three"])
    with pytest.raises(co.CommandError, match="--flag must be true or false"):
        parse_options(f, ["--flag=maybe"])


def test_load_pipeline_needs_a_name_when_a_script_has_several(script: Path) -> None:
    assert set(load_pipeline(f"{script}:ci").children) == {"shard-0", "shard-1"}
    with pytest.raises(co.PipelineError, match="say which pipeline"):
        load_pipeline(str(script))
    with pytest.raises(co.PipelineError, match="no function `missing`"):
        load_pipeline(f"{script}:missing")
    with pytest.raises(co.PipelineError, match="no such pipeline script"):
        load_pipeline("/no/such/file.py")


def test_interrupt_during_a_blocking_run_kills_the_pipeline(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    code = textwrap.dedent(f"""
        import conducto_nb as co
        with co.Serial() as root:
            co.Exec("echo $$ > {pidfile}; exec sleep 60", name="sleep")
        try:
            root.run()
        except KeyboardInterrupt:
            print("interrupted", flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not (pidfile.exists() and pidfile.read_text().strip()):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    sleeper = int(pidfile.read_text())
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert "interrupted" in out
    with pytest.raises(ProcessLookupError):
        os.kill(sleeper, 0)
