"""The same pipeline means the same thing on the local backend as on Docker: a co.Image's code
is there for its commands (a copy per pipeline, kept for reruns), its pip packages go into a
venv of its own, and a rerun runs the code its run was defined with
(tests/docker/test_same_code_docker.py: Docker)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from code_kit import (
    assert_a_rerun_after_a_checkout_runs_the_runs_own_code,
    assert_a_rerun_uses_the_image_its_run_built,
    check_elsewhere,
    hello_project,
)

import conducto_nb as co
from conducto_nb.model.states import State


def test_local_commands_run_in_their_own_copy_of_the_images_code(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "src" / "app.py").write_text("print('hello')\n")
    image = co.Image("python:3.11-slim", copy_dir=project)
    with co.Serial(image=image) as root:
        co.Exec("python -m compileall -q src && python src/app.py && echo x > out", name="a")
        co.Exec("cat out && ls", name="b")
    first = root.run(backend="local")
    assert first.state is State.DONE, first["/a"].stderr + first["/b"].stderr
    assert first["/a"].stdout == "hello\n"
    assert first["/b"].stdout.split() == ["x", "out", "src"]  # the nodes share the run's copy
    assert not (project / "out").exists()  # the user's folder is left alone

    second = co.Exec("ls", image=image).run(backend="local")
    assert second["/"].stdout.split() == ["src"]  # another run: a fresh copy


def test_an_image_without_code_runs_where_it_did_and_says_the_image_is_not_used() -> None:
    run = co.Exec("pwd", image="python:3.11-slim").run(backend="local")
    assert run.state is State.DONE
    assert run["/"].stdout.strip().endswith(f"/work/{run.id}")  # the pipeline's work folder
    assert "image 'python:3.11-slim' (and any other image) is not used" in run["/"].stderr


def test_a_rerun_after_checking_out_another_branch_runs_the_runs_own_code(repo: Path) -> None:
    assert_a_rerun_after_a_checkout_runs_the_runs_own_code(
        repo, "co.Image(copy_repo=True)", "local"
    )


def test_install_pip_dot_installs_the_copied_project_into_a_venv_of_its_own(
    tmp_path: Path,
) -> None:
    project = hello_project(tmp_path)
    image = co.Image(copy_dir=project, install_pip=["."])
    check = "cd / && python -c 'import hello_conducto_nb as h, sys; print(h.WORD, sys.prefix)'"
    run = co.Exec(check, image=image).run(backend="local")
    assert run.state is State.DONE, run.images[0].log + run["/"].stderr
    word, prefix = run["/"].stdout.split()
    assert word == "installed" and prefix != sys.prefix  # the image's venv, not the tool's
    tool = subprocess.run([sys.executable, "-c", "import hello_conducto_nb"], capture_output=True)
    assert tool.returncode != 0


def imported_word() -> str:
    import hello_conducto_nb  # only the image's venv has it

    return str(hello_conducto_nb.WORD)


def finds_hello() -> bool:
    import importlib.util

    return importlib.util.find_spec("hello_conducto_nb") is not None


def test_a_callable_of_an_image_with_pip_packages_imports_them(tmp_path: Path) -> None:
    """As a container of the image would: the callable finds the image's venv first; a
    callable of no image, in the same pipeline, does not see it (workers of its own)."""
    project = hello_project(tmp_path)
    image = co.Image(copy_dir=project, install_pip=["."])
    with co.Serial() as root:
        co.Exec(imported_word, name="in-image", image=image)
        co.Exec(finds_hello, name="elsewhere")
    run = root.run(backend="local")
    assert run.state is State.DONE, run.images[0].log + run["/in-image"].stderr
    assert run["/in-image"].result == "installed"
    assert run["/elsewhere"].result is False


def test_a_rerun_uses_the_image_its_run_built_even_after_copy_dir_changes(
    tmp_path: Path,
) -> None:
    assert_a_rerun_uses_the_image_its_run_built(tmp_path, "co.Image(copy_dir='project')", "local")


def test_a_rerun_whose_built_image_is_gone_builds_it_again_and_says_so(tmp_path: Path) -> None:
    import shutil

    from conducto_nb.store.db import home

    project = tmp_path / "project"
    project.mkdir()
    (project / "check.sh").write_text("echo code\nexit 1\n")
    pipeline_id = check_elsewhere("co.Image(copy_dir='project')", "local", tmp_path)
    built = Path(co.load(pipeline_id).images[0].tag or "")
    assert built.parent == home() / "images" / "local"
    shutil.rmtree(built)
    shutil.rmtree(home() / "code" / pipeline_id)

    run = co.load(pipeline_id).rerun().wait(timeout=300)
    assert run["/"].stdout == "code\n"
    assert "the image this run built" in run.images[0].log and "is gone" in run.images[0].log


def test_rebuild_images_is_the_explicit_way_to_take_new_code(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "check.sh").write_text("echo old code\nexit 1\n")
    run = co.Exec("sh check.sh", image=co.Image(copy_dir=project)).run(backend="local")
    assert run["/"].stdout == "old code\n"
    (project / "check.sh").write_text("echo new code\nexit 2\n")
    run.rerun().wait(timeout=120)
    assert run["/"].stdout == "old code\n"  # a rerun runs what the run ran
    run.rebuild_images().rerun().wait(timeout=120)
    assert run["/"].stdout == "new code\n" and run["/"].exit_code == 2

    (project / "check.sh").write_text("echo newer code\nexit 0\n")
    cli = [sys.executable, "-m", "conducto_nb.cli", "rerun", "--rebuild-images", run.id]
    # this process still owns the run: the CLI asks it, through its control socket
    out = subprocess.run(cli, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    run.wait(timeout=120)
    assert run["/"].stdout == "newer code\n"
