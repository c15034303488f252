"""co.Notebook (issue 19) in Docker: an image without a kernel says so in one sentence, and
`co.Image(install_pip=["papermill", "ipykernel"])` from the offline python image fixes it; the
notebook runs in the container with its parameters injected, streams its cells and comes back
as the node's result; a kill ends the kernel with the job."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from backend_kit import PYTHON
from notebook_kit import outputs_text, write_notebook
from wait_kit import wait_for

import conducto_nb as co
from conducto_nb.backends.docker.backend import DockerBackend
from conducto_nb.run.loop import background_loop

pytestmark = pytest.mark.usefixtures("data_home")

#: The image a notebook node needs: the offline python image with a kernel and papermill.
KERNEL = co.Image(PYTHON, install_pip=["papermill", "ipykernel"])


@pytest.fixture
def backend() -> Iterator[DockerBackend]:
    backend = DockerBackend(cpu_budget=2, idle_timeout=5)
    yield backend
    background_loop().submit(backend.close()).result(60)


def test_an_image_without_a_kernel_says_so(tmp_path: Path, backend: DockerBackend) -> None:
    path = write_notebook(tmp_path / "plain.ipynb", "print('never')")
    with co.Serial(image=PYTHON) as root:
        co.Notebook(path)
    run = root.run(backend=backend)
    node = run["/plain"]
    assert node.state is co.State.ERROR
    message = node.attempts[-1].message or ""
    assert message.startswith("plain.ipynb needs a kernel, but this Python has no papermill")
    assert 'install_pip=["papermill", "ipykernel"]' in message
    assert "never" not in node.stdout and node.notebook is None


def test_a_notebook_runs_in_an_image_with_a_kernel(tmp_path: Path, backend: DockerBackend) -> None:
    path = write_notebook(
        tmp_path / "inside.ipynb",
        "import os, sys\n"
        "print(f'{name} from', sys.version.split()[0], os.path.exists('/.dockerenv'))",
        "1/0 if fail else 'fine'",
        parameters="name = 'nobody'\nfail = False",
    )
    with co.Parallel(image=KERNEL) as root:
        co.Notebook(path, name="container", params={"name": "ok"})
        co.Notebook(path, fail=True, params={"name": "bad"})
    run = root.run(backend=backend)
    ok = run["/ok"]
    assert ok.state is co.State.DONE, ok.stderr
    assert "[cell 2/3] import os, sys" in ok.stdout
    assert "container from 3.11.2 True" in ok.stdout  # the image's Python, in a container
    executed = ok.notebook
    assert executed is not None and "container from 3.11.2 True" in outputs_text(executed.nb)
    assert "'fine'" in outputs_text(executed.nb)
    bad = run["/bad"]
    assert bad.attempts[-1].message == "cell 3/3 raised ZeroDivisionError: division by zero"
    assert "ZeroDivisionError" in bad.stderr


def test_kill_ends_the_kernel_in_the_container(
    tmp_path: Path, backend: DockerBackend, docker_client: Any
) -> None:
    path = write_notebook(
        tmp_path / "slow.ipynb",
        "import os, time\nprint('kernel pid', os.getpid(), flush=True)\ntime.sleep(600)",
    )
    with co.Serial(image=KERNEL) as root:
        co.Notebook(path)
    run = root.start(backend=backend)
    wait_for(lambda: "kernel pid" in run["/slow"].stdout, 300, "the kernel started")
    pid = run["/slow"].stdout.split("kernel pid ")[1].split()[0]
    [container] = [
        c for c in docker_client.containers.list() if pid in _pids(c) and "ipykernel" in _ps(c)
    ]
    run.kill("/slow")
    wait_for(lambda: run.done, 60, "the run ended")
    assert run["/slow"].state is co.State.KILLED
    wait_for(lambda: "ipykernel" not in _ps(container), 60, "the kernel ended in the container")


def _ps(container: Any) -> str:
    """Every process's command line in `container`; empty once it is gone (another test's,
    being removed, or this one's after the kill)."""
    script = "for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline; echo; done"
    try:
        code, out = container.exec_run(["sh", "-c", script])
    except docker.errors.APIError:
        return ""
    return str(out.decode()) if code == 0 else ""


def _pids(container: Any) -> list[str]:
    try:
        code, out = container.exec_run(["sh", "-c", "ls /proc"])
    except docker.errors.APIError:
        return []
    return str(out.decode()).split() if code == 0 else []
