"""Binder: what `binder/` asks for is enough to run the notebooks, on the local backend.

repo2docker itself needs Docker Hub, which is not reachable here, so this test does what it
would do without it: a fresh virtualenv, `pip install -r binder/requirements.txt` from the
repository's root (a real install of the package, not this checkout on sys.path: its data
files must be in it), then every notebook run by nbval in that environment's own kernel, with no
daemon answering (Binder has none: the notebooks that show Docker say so and run locally), its
deterministic outputs checked through notebooks/nbval_sanitize.cfg.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import venv
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))


def _pip(python: Path, *args: str) -> None:
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *args],
        cwd=ROOT,  # as repo2docker runs it: `.` is the repository
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def test_the_binder_environment_runs_the_notebooks_without_repo2docker(tmp_path: Path) -> None:
    env_dir = tmp_path / "binder-venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    _pip(python, "-r", str(ROOT / "binder" / "requirements.txt"))
    _pip(python, "pytest", "nbval")  # the test's own tools, not Binder's
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CONDUCTO_", "PYTHON", "VIRTUAL_ENV")) and k != "PYTEST_XDIST_WORKER"
    }
    env |= {
        "PATH": f"{env_dir / 'bin'}{os.pathsep}{env.get('PATH', os.defpath)}",
        "DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock",  # as on Binder: no daemon
        "CONDUCTO_NB_HOME": str(tmp_path / "home"),
        "HOME": str(tmp_path),
    }
    where = subprocess.run(  # Binder's environment: no PYTHONPATH naming this checkout
        [str(python), "-c", "import conducto_nb; print(conducto_nb.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert where.stdout.startswith(str(env_dir)), where.stdout + where.stderr  # installed
    lessons = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", lessons)
    done = subprocess.run(
        [
            *(str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax"),
            *("--nbval-sanitize-with", "nbval_sanitize.cfg", "."),
        ],
        cwd=lessons,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert " passed" in done.stdout and "skipped" not in done.stdout, done.stdout[-2000:]


@pytest.mark.parametrize("path", LESSONS, ids=[p.stem for p in LESSONS])
def test_each_notebook_reads_as_a_lesson_and_checks_what_it_shows(path: Path) -> None:
    """A Markdown intro first, an exercise at the end (before any clean-up cell), at least one
    cell whose committed output nbval checks strictly, and a row in the README's table."""
    nb = nbformat.read(path, as_version=4)
    intro = nb.cells[0]
    assert intro.cell_type == "markdown" and intro.source.startswith("# "), intro.source[:80]
    ending = [c for c in nb.cells[-2:] if c.cell_type == "markdown"]
    assert any(c.source.startswith("## Exercise") for c in ending), "no exercise at the end"
    checked = [c for c in nb.cells if "# NBVAL_CHECK_OUTPUT" in c.get("source", "")]
    assert checked, "no cell's output is checked"
    for cell in checked:  # nbval compares a fresh run with what is committed: it must be there
        assert cell.outputs, f"checked cell without a committed output:\n{cell.source[:200]}"
        assert all(o.output_type != "error" for o in cell.outputs), cell.source[:200]
    readme = (ROOT / "README.md").read_text()
    assert f"(notebooks/{path.name})" in readme, "not in the README's table of notebooks"
