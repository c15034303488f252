"""What a rerun runs, the same scenario on both backends (tests/test_same_code.py and
tests/docker/test_same_code_docker.py): a run made in a process of its own, which exits, so
this test process adopts it when it reruns it, as a CLI or a second kernel would."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from git_kit import commit, git

import conducto_nb as co
from conducto_nb.model.states import State


def run_elsewhere(code: str, cwd: Path) -> list[str]:
    """Run `code` in a process of its own (which exits: its runs can be adopted here); the
    words it printed."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ.copy(),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.split()


def check_elsewhere(image: str, backend: str, cwd: Path) -> str:
    """Run `sh check.sh` in `image` (Python source) on `backend`, elsewhere; its pipeline id
    (the check must fail)."""
    pipeline_id, state = run_elsewhere(
        f"""
        import conducto_nb as co
        run = co.Exec("sh check.sh", image={image}).run(backend={backend!r})
        print(run.id, run.state.value)
        """,
        cwd,
    )
    assert state == "error"
    return pipeline_id


def assert_a_rerun_after_a_checkout_runs_the_runs_own_code(
    repo: Path, image: str, backend: str
) -> None:
    """A run of a branch whose check fails; `git checkout main` (whose check passes); the
    rerun still runs the branch's code, and fails."""
    commit(repo, {"check.sh": "echo main code\nexit 0\n"})
    git(repo, "checkout", "-q", "-b", "broken")
    commit(repo, {"check.sh": "echo broken code\nexit 1\n"})
    pipeline_id = check_elsewhere(image, backend, repo)
    git(repo, "checkout", "-q", "main")

    run = co.load(pipeline_id).rerun().wait(timeout=300)
    assert run.owned_here  # adopted: its owner had exited
    assert run["/"].stdout == "broken code\n", run["/"].stderr
    assert run.state is State.ERROR


def assert_a_rerun_uses_the_image_its_run_built(folder: Path, image: str, backend: str) -> None:
    """`folder/project` copied by `image`, edited after the run: the rerun runs the copy the
    run built, not the edit."""
    project = folder / "project"
    project.mkdir()
    (project / "check.sh").write_text("echo old code\nexit 1\n")
    pipeline_id = check_elsewhere(image, backend, folder)
    (project / "check.sh").write_text("echo new code\nexit 0\n")

    run = co.load(pipeline_id).rerun().wait(timeout=300)
    assert run["/"].stdout == "old code\n", run["/"].stderr
    assert run.state is State.ERROR


def hello_project(folder: Path) -> Path:
    """A one-module Python project, `hello_conducto_nb` (WORD = 'installed'), built by
    setuptools: what `install_pip=['.']` installs."""
    project = folder / "hello"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "hello-conducto-nb"\nversion = "0.1"\n'
        "[tool.setuptools]\npy-modules = ['hello_conducto_nb']\n"
    )
    (project / "hello_conducto_nb.py").write_text("WORD = 'installed'\n")
    return project
