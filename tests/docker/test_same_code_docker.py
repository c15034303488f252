"""A rerun reruns the code its run was defined with, on Docker: a `copy_repo` image is pinned
to the commit checked out when the pipeline started, whatever the checkout holds later
(tests/test_same_code.py: the same on the local backend)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from backend_kit import BUSYBOX
from git_kit import commit, git

import conducto_nb as co
from conducto_nb.model.states import State


def _branch_with_a_broken_check(repo: Path) -> None:
    commit(repo, {"check.sh": "echo main code\nexit 0\n"})
    git(repo, "checkout", "-q", "-b", "broken")
    commit(repo, {"check.sh": "echo broken code\nexit 1\n"})


def test_a_rerun_after_checking_out_another_branch_runs_the_runs_own_code(repo: Path) -> None:
    _branch_with_a_broken_check(repo)
    started = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
                import conducto_nb as co
                image = co.Image({BUSYBOX!r}, copy_repo=True)
                run = co.Exec("sh check.sh", image=image, name="check").run(backend="docker")
                print(run.id, run.state.value)
            """),
        ],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ.copy(),
    )
    pipeline_id, state = started.stdout.split()
    assert state == "error", started.stdout + started.stderr
    git(repo, "checkout", "-q", "main")  # the checkout now holds the fixed code

    run = co.load(pipeline_id).rerun().wait(timeout=300)  # adopts it: its owner has exited
    assert run.owned_here
    assert run.state is State.ERROR, run["/"].stdout + run["/"].stderr
    assert run["/"].stdout == "broken code\n"
    assert "copy_commit" in run.tree.image.to_json()


def test_a_rerun_of_an_events_pipeline_after_its_checkout_is_gone(repo: Path) -> None:
    """The event ran in a worktree removed when its command ended; the pipeline's image names
    the repository's main working tree and the event's commit, so a rerun builds it again."""
    pipeline = textwrap.dedent(f"""
        import conducto_nb as co

        def main():
            image = co.Image({BUSYBOX!r}, copy_repo=True)
            return co.Exec("sh check.sh", image=image, name="check")
    """)
    cfg = "[push]\ncommand = conducto-nb run pipeline.py:main --backend docker\n"
    commit(repo, {".conducto.cfg": cfg, "pipeline.py": pipeline, "check.sh": "echo ok\n"})
    git(repo, "checkout", "-q", "-b", "feat")
    commit(repo, {"check.sh": "echo event code\nexit 1\n"})
    git(repo, "checkout", "-q", "main")
    cli = [sys.executable, "-m", "conducto_nb.cli"]
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    out = subprocess.run(
        [*cli, ".conducto.cfg", "push", "--branch=feat"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert out.returncode == 1, out.stdout + out.stderr  # the event's check fails
    pipeline_id = _newest_pipeline()

    run = co.load(pipeline_id).rerun().wait(timeout=300)
    assert run["/"].stdout == "event code\n", run["/"].stderr
    assert run.state is State.ERROR


def _newest_pipeline() -> str:
    from conducto_nb.run.runs import shared_store

    return shared_store().list_pipelines()[0].id


def test_install_pip_dot_installs_the_copied_project(tmp_path: Path) -> None:
    """pip ran before the code was copied in, so '.' (the project itself) failed."""
    project = tmp_path / "hello"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "hello-conducto-nb"\nversion = "0.1"\n'
        "[tool.setuptools]\npy-modules = ['hello_conducto_nb']\n"
    )
    (project / "hello_conducto_nb.py").write_text("WORD = 'installed'\n")
    image = co.Image("python:3.11-slim", copy_dir=project, install_pip=["."])
    check = "cd / && python -c 'import hello_conducto_nb as h; print(h.WORD)'"
    run = co.Exec(check, image=image).run(backend="docker")
    assert run.state is State.DONE, run.images[0].log[-3000:] + run["/"].stderr
    assert run["/"].stdout == "installed\n"


def test_a_rerun_uses_the_image_its_run_built_even_after_copy_dir_changes(
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "check.sh").write_text("echo old code\nexit 1\n")
    started = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
                import conducto_nb as co
                image = co.Image({BUSYBOX!r}, copy_dir="project")
                run = co.Exec("sh check.sh", image=image).run(backend="docker")
                print(run.id, run.state.value)
            """),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ.copy(),
    )
    pipeline_id, state = started.stdout.split()
    assert state == "error", started.stderr
    (project / "check.sh").write_text("echo new code\nexit 0\n")

    run = co.load(pipeline_id).rerun().wait(timeout=300)
    assert run["/"].stdout == "old code\n", run["/"].stderr
    assert run.state is State.ERROR
