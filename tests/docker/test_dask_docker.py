"""The Dask backend with the workers' Docker: a real `dask scheduler` and two `dask worker`
processes, one whose Docker daemon answers (this machine's: the owner's too) and one that sees
none (DOCKER_HOST names a socket nobody serves). Commands run in the node's image there, in
warm containers reused across tasks; else directly, and the run's log says so once."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import cloudpickle
import pytest
from backend_kit import BUSYBOX, PYTHON

import conducto_nb as co
from conducto_nb.model.states import State
from tests.dask_kit import Spec, dask_backend, dask_cluster
from tests.wait_kit import wait_for

cloudpickle.register_pickle_by_value(sys.modules[__name__])
GIB = 2**30
# The worker with Docker is the only one with 3 GiB; the one without, the only one with 2 CPUs.
ON_DOCKER = {"mem": 3}
ON_PLAIN = {"cpu": 2, "mem": 0.5}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    where = tmp_path_factory.mktemp("dask-docker")
    nowhere = f"unix://{where}/no-daemon.sock"
    workers = [
        Spec("docker", 1, 4 * GIB),
        Spec("plain", 2, GIB, env={"DOCKER_HOST": nowhere}),
    ]
    with dask_cluster(where, workers) as address:
        yield address


def in_docker() -> str:
    """A container's hostname is its id; this machine's is its own (it may be a container
    too, so /.dockerenv tells nothing)."""
    return "hostname"


def test_commands_run_in_the_node_image_in_warm_containers_reused_across_tasks(
    cluster: str, containers: object
) -> None:
    with co.Serial(image=BUSYBOX) as root:
        co.Exec(in_docker(), name="one", **ON_DOCKER)
        co.Exec(in_docker(), name="two", **ON_DOCKER)
        co.Exec("python -c 'import sys; print(sys.version_info[:2])'", name="py", image=PYTHON)
        co.Exec(in_docker(), name="plain", **ON_PLAIN)
    backend = dask_backend(cluster, images="auto")
    run = root.run(backend=backend)
    assert run.state is State.DONE, [run[p].stderr for p in ("/one", "/two", "/py", "/plain")]
    here = socket.gethostname()
    one, two = run["/one"].stdout, run["/two"].stdout
    assert one != f"{here}\n" and one == two  # the same warm container ran both
    assert run["/py"].stdout == "(3, 11)\n"
    assert run["/plain"].stdout == f"{here}\n"
    note = "has no Docker daemon"
    assert "[conducto_nb] the Dask worker tcp://127.0.0.1:" in run["/plain"].stderr
    assert note in run["/plain"].stderr and "without their image" in run["/plain"].stderr
    assert sum(note in run[p].stderr for p in ("/one", "/two", "/py", "/plain")) == 1


def test_images_docker_fails_a_node_on_a_worker_without_a_daemon(cluster: str) -> None:
    with co.Serial(image=BUSYBOX) as root:
        co.Exec("echo never", name="plain", **ON_PLAIN)
    run = root.run(backend=dask_backend(cluster, images="docker"))
    node = run["/plain"]
    assert node.state is State.ERROR and "never" not in node.stdout
    assert "has no Docker daemon" in node.stderr and "images='docker'" in node.stderr


def test_an_image_the_worker_daemon_lacks_is_one_error_naming_it_and_the_worker(
    cluster: str,
) -> None:
    with co.Serial() as root:
        co.Exec("echo never", name="x", image="conducto-nb/no-such-image:1", **ON_DOCKER)
    run = root.run(backend=dask_backend(cluster))
    node = run["/x"]
    assert node.state is State.ERROR, node.stderr
    assert "image conducto-nb/no-such-image:1 is not on the Docker daemon" in node.stderr
    assert "of the Dask worker tcp://127.0.0.1:" in node.stderr


def test_a_co_image_built_by_the_owner_runs_on_a_worker_sharing_its_daemon(
    cluster: str, repo_name: str, tmp_path: Path
) -> None:
    (tmp_path / "hello.txt").write_text("from the image\n")
    image = co.Image(BUSYBOX, copy_dir=str(tmp_path), name=repo_name)
    with co.Serial(image=image) as root:
        co.Exec("cat hello.txt", name="read", **ON_DOCKER)
    run = root.run(backend=dask_backend(cluster, images="docker"))
    assert run.state is State.DONE, run["/read"].stderr
    assert run["/read"].stdout == "from the image\n"
    [built] = run.images
    assert built.state is co.ImageState.DONE and built.tag
    assert built.tag.startswith(f"conducto-nb/{repo_name}:")


def _gone(marker: str) -> bool:
    found = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True)
    return found.stdout.strip() == ""


def test_kill_and_max_time_stop_the_command_in_the_worker_container(cluster: str) -> None:
    killed = f"sleep 5{os.getpid() % 1000:03d}"
    timed = f"sleep 6{os.getpid() % 1000:03d}"
    with co.Parallel(image=BUSYBOX) as root:
        co.Exec(f"echo started; {killed}", name="killed", **ON_DOCKER)
        co.Exec(f"echo started; {timed}", name="timed", max_time=1, **ON_DOCKER)
    run = root.start(backend=dask_backend(cluster, images="docker"))
    wait_for(lambda: "started" in run["/killed"].stdout, timeout=120, what="the node started")
    assert not _gone(killed)  # the container's processes are this machine's too
    run.kill("/killed")
    run.wait()
    assert run["/killed"].state is State.KILLED
    assert run["/timed"].state is State.ERROR and "max_time" in run["/timed"].stderr
    wait_for(lambda: _gone(killed), what="the killed command's process ended")
    wait_for(lambda: _gone(timed), what="the timed-out command's process ended")


def test_co_data_reaches_the_owner_from_a_container_on_a_worker(cluster: str) -> None:
    with co.Serial(image=PYTHON) as root:
        co.Exec("echo 6 | conducto-data-pipeline puts --name n", name="put", **ON_DOCKER)
        co.Exec("conducto-data-pipeline gets --name n", name="get", **ON_PLAIN)
    run = root.run(backend=dask_backend(cluster))
    assert run.state is State.DONE, run["/put"].stderr + run["/get"].stderr
    assert run["/get"].stdout == "6\n"
