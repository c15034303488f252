"""`co.relpath` in a command that runs in a container: the local path becomes its copy in the
image; a path the image does not hold fails that node with one sentence saying so. A script a
node runs with the image's Python imports conducto_nb, as Conducto's images with
`reqs_py=["conducto"]` imported conducto."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from backend_kit import BUSYBOX, PYTHON

import conducto_nb as co
from conducto_nb.backends.docker.backend import DockerBackend
from conducto_nb.model.states import State
from conducto_nb.run.loop import background_loop


@pytest.fixture
def backend() -> Iterator[DockerBackend]:
    backend = DockerBackend(cpu_budget=2, idle_timeout=5)
    yield backend
    background_loop().submit(backend.close()).result(60)


def test_relpath_reads_the_copy_in_the_image(tmp_path: Path, backend: DockerBackend) -> None:
    src = tmp_path / "app"
    (src / "data").mkdir(parents=True)
    (src / "data" / "rows.txt").write_text("in the image\n")
    with co.Serial(image=co.Image(BUSYBOX, copy_dir=str(src))) as root:
        co.Exec(f"cat {co.relpath(src / 'data' / 'rows.txt')}", name="read")
        co.Exec(f"cat {co.relpath(tmp_path / 'elsewhere.txt')}", name="outside")
    run = root.run(backend=backend)
    assert run["/read"].stdout == "in the image\n", run["/read"].stderr
    assert run["/outside"].state is State.ERROR
    assert "is not in the image's container" in (run["/outside"].attempts[-1].message or "")


def test_a_script_in_the_image_imports_the_pipelines_own_conducto_nb(
    tmp_path: Path, backend: DockerBackend
) -> None:
    """As Conducto's examples ran `python pipeline.py step` in an image that pip-installed
    conducto: here nothing is installed (reqs_py's "conducto" asks for nothing), the package
    this pipeline runs with is lent to the container's Python (-S: no site-packages at all)."""
    src = tmp_path / "app"
    src.mkdir()
    (src / "pipeline.py").write_text(
        "import conducto_nb as co\n"
        "with co.Serial() as root:\n"
        "    co.Exec('true', name='built-in-the-node')\n"
        "print(co.__file__, root.pretty())\n"
    )
    image = co.Image(PYTHON, copy_dir=str(src), reqs_py=["conducto"])
    assert image.install_pip == ()
    with co.Serial(image=image) as root:
        co.Exec("python3 -S pipeline.py", name="step")
    run = root.run(backend=backend)
    assert run.state is State.DONE, run["/step"].stderr
    assert run["/step"].stdout.startswith("/opt/conducto_nb/conducto_nb/__init__.py /  Serial")
