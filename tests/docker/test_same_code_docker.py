"""A rerun reruns the code its run was defined with, on Docker: a `copy_repo` image is pinned
to the commit checked out when the pipeline started, whatever the checkout holds later, and a
rerun uses the image its run built (tests/test_same_code.py: the same on the local backend;
tests/code_kit.py: the scenarios)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from backend_kit import BUSYBOX
from code_kit import (
    assert_a_rerun_after_a_checkout_runs_the_runs_own_code,
    assert_a_rerun_uses_the_image_its_run_built,
    hello_project,
)
from git_kit import commit, git, push_event

import conducto_nb as co
from conducto_nb.model.states import State
from conducto_nb.run.runs import shared_store


def test_a_rerun_after_checking_out_another_branch_runs_the_runs_own_code(repo: Path) -> None:
    image = f"co.Image({BUSYBOX!r}, copy_repo=True)"
    assert_a_rerun_after_a_checkout_runs_the_runs_own_code(repo, image, "docker")


def test_a_rerun_uses_the_image_its_run_built_even_after_copy_dir_changes(
    tmp_path: Path,
) -> None:
    image = f"co.Image({BUSYBOX!r}, copy_dir='project')"
    assert_a_rerun_uses_the_image_its_run_built(tmp_path, image, "docker")


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
    out = push_event(repo, "feat")
    assert out.returncode == 1, out.stdout + out.stderr  # the event's check fails
    pipeline_id = shared_store().list_pipelines()[0].id

    run = co.load(pipeline_id).rerun().wait(timeout=300)
    assert run["/"].stdout == "event code\n", run["/"].stderr
    assert run.state is State.ERROR


def test_install_pip_dot_installs_the_copied_project(tmp_path: Path) -> None:
    """pip ran before the code was copied in, so '.' (the project itself) failed."""
    image = co.Image("python:3.11-slim", copy_dir=hello_project(tmp_path), install_pip=["."])
    check = "cd / && python -c 'import hello_conducto_nb as h; print(h.WORD)'"
    run = co.Exec(check, image=image).run(backend="docker")
    assert run.state is State.DONE, run.images[0].log[-3000:] + run["/"].stderr
    assert run["/"].stdout == "installed\n"


def test_a_pipeline_an_event_starts_sees_the_events_checkout_on_docker(repo: Path) -> None:
    """Conducto put the event's code into the image of a cfg-started pipeline; without it, an
    Exec on Docker ran in an image without the checkout."""
    pipeline = (
        "import conducto_nb as co\n\n"
        "def main():\n"
        "    return co.Exec('cat state.txt', name='check')\n"
    )
    cfg = "[push]\ncommand = conducto-nb run pipeline.py:main --backend docker\n"
    commit(repo, {".conducto.cfg": cfg, "pipeline.py": pipeline, "state.txt": "committed\n"})
    out = push_event(repo, "main")
    assert out.returncode == 0, out.stdout + out.stderr
    run = co.load(shared_store().list_pipelines()[0].id)
    assert run["/"].stdout == "committed\n"
    assert run.tree.image.copy_commit == git(repo, "rev-parse", "HEAD")
