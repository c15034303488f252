"""The Dask backend against a real cluster: a `dask scheduler` and two `dask worker` processes
on 127.0.0.1 declaring resources, started here. The same trees as on the other backends:
Serial / Parallel, shell and callables, output, results, retries, kills, a worker that dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import cloudpickle
import pytest
from dask_kit import Spec, dask_backend, dask_cluster
from wait_kit import wait_for

import conducto_nb as co
from conducto_nb.model.states import State

# This module's functions run on the workers, which cannot import it: send them by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A scheduler and two workers: a big one (CPU=2, MEMORY=4 GiB) and a small one."""
    workers = [Spec("big", 2, 4 * 2**30), Spec("small", 1, 2**30)]
    with dask_cluster(tmp_path_factory.mktemp("dask"), workers) as address:
        yield address


def double(x: int) -> int:
    print("doubling", x)
    return x * 2


def test_a_tree_runs_on_the_cluster_with_output_results_and_errors(cluster: str) -> None:
    with co.Serial(stop_on_error=False) as root:
        with co.Parallel(name="fan"):
            for i in range(3):
                co.Exec(f"echo out {i}; echo err {i} >&2", name=f"s{i}")
        co.Exec(double, 21, name="call")
        co.Exec("exit 3", name="bad")
    run = root.run(backend=dask_backend(cluster, images="local"))
    assert run.state is State.ERROR
    assert [run[f"/fan/s{i}"].stdout for i in range(3)] == ["out 0\n", "out 1\n", "out 2\n"]
    assert run["/fan/s2"].stderr == "err 2\n"
    assert (run["/call"].state, run["/call"].result, run["/call"].stdout) == (
        State.DONE,
        42,
        "doubling 21\n",
    ), run["/call"].stderr
    assert run["/bad"].state is State.ERROR


def test_a_node_no_worker_can_take_fails_at_once_naming_it(cluster: str) -> None:
    with co.Serial() as root:
        co.Exec("echo never", name="first")
        co.Exec("true", name="huge", cpu=8)
    with pytest.raises(co.PipelineError, match=r"no Dask worker is big enough for /huge \(cpu=8"):
        root.run(backend=dask_backend(cluster, images="local"))


def test_retries_and_mem_follow_the_same_rules(cluster: str, tmp_path: Path) -> None:
    flag = tmp_path / "tried"
    flaky = f"if [ -e {flag} ]; then echo second; else touch {flag}; exit 1; fi"
    with co.Serial() as root:
        co.Exec(flaky, name="flaky", retries=1)
        co.Exec("echo roomy", name="roomy", mem=3)  # only the big worker has 3 GiB
    run = root.run(backend=dask_backend(cluster, images="local"))
    assert run.state is State.DONE
    assert run["/flaky"].stdout.endswith("second\n")
    assert run["/roomy"].stdout == "roomy\n"


def _gone(marker: str) -> bool:
    found = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True)
    return found.stdout.strip() == ""


def test_kill_stops_the_command_on_the_worker(cluster: str, tmp_path: Path) -> None:
    marker = f"sleep 3{os.getpid() % 1000:03d}"
    with co.Serial() as root:
        co.Exec(f"echo started; {marker}", name="long")
    run = root.start(backend=dask_backend(cluster, images="local"))
    wait_for(lambda: "started" in run["/long"].stdout, timeout=120, what="the node started")
    assert not _gone(marker)
    run.kill("/long")
    run.wait()
    assert run["/long"].state is State.KILLED
    wait_for(lambda: _gone(marker), what="the killed command's process ended")


def test_a_worker_that_dies_mid_node_is_a_worker_error_and_never_a_second_run(
    cluster: str, tmp_path: Path
) -> None:
    from distributed import Client

    runs = tmp_path / "runs"
    marker = f"sleep 4{os.getpid() % 1000:03d}"
    with co.Serial() as root:
        co.Exec(f"echo x >> {runs}; echo started; {marker}", name="long")
    run = root.start(backend=dask_backend(cluster, images="local"))
    wait_for(lambda: "started" in run["/long"].stdout, timeout=120, what="the node started")
    with Client(cluster, timeout=60) as client:
        pids = client.run(os.getpid)
        (address,) = [w for w, keys in client.processing().items() if keys]
        os.kill(pids[address], signal.SIGKILL)
    run.wait()
    node = run["/long"]
    assert node.state is State.WORKER_ERROR
    assert f"the Dask worker {address} died while running it" in node.stderr
    wait_for(lambda: _gone(marker), what="the dead worker's command ended with it")
    assert runs.read_text() == "x\n"


def test_co_data_passes_bytes_between_nodes_on_different_workers(cluster: str) -> None:
    def put() -> None:
        co.data.pipeline.puts("numbers", b"1 2 3")

    def total() -> int:
        return sum(int(n) for n in co.data.pipeline.gets("numbers").split())

    from distributed import Client

    with co.Serial() as root:
        co.Exec(put, name="put", mem=3)  # the big worker
        co.Exec(total, name="total", mem=0.5, cpu=1)
    with Client(cluster, timeout=60) as client:  # a user's own Client names the cluster too
        run = root.run(backend=dask_backend(client, images="local"))
    assert run["/total"].result == 6, run["/total"].stderr


def test_the_cli_runs_a_script_on_the_cluster(cluster: str, tmp_path: Path) -> None:
    script = tmp_path / "pipeline.py"
    script.write_text(
        "import conducto_nb as co\n\n"
        "def pipeline() -> co.Serial:\n"
        "    with co.Serial() as root:\n"
        "        co.Exec('echo on dask', name='hello')\n"
        "    return root\n"
    )
    cli = [sys.executable, "-m", "conducto_nb.cli", "run", f"{script}:pipeline", "--dask", cluster]
    env = {**os.environ, "CONDUCTO_NB_DASK_IMAGES": "local"}  # no Docker test outside tests/docker
    out = subprocess.run(cli, capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "on dask" in out.stdout
    cli[-1] = "tcp://127.0.0.1:9"  # nothing listens there
    out = subprocess.run(
        [*cli[:-2], "--dask", cli[-1]], capture_output=True, text=True, timeout=300, env=env
    )
    assert out.returncode != 0
    assert "no Dask scheduler answers at tcp://127.0.0.1:9" in out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr


def test_a_notebook_step_runs_on_a_worker(cluster: str, tmp_path: Path) -> None:
    from notebook_kit import outputs_text, write_notebook

    path = write_notebook(
        tmp_path / "report.ipynb", "print('total', total * 2)", parameters="total = 1"
    )
    with co.Serial() as root:
        co.Notebook(path, total=21)
    run = root.run(backend=dask_backend(cluster, images="local"))
    node = run["/report"]
    assert node.state is State.DONE, node.stderr
    assert "[cell 2/2]" in node.stdout
    executed = node.notebook
    assert executed is not None and "total 42" in outputs_text(executed.nb)


def big(n: int) -> str:
    return "x" * n


def test_a_big_result_comes_back_whole(cluster: str) -> None:
    """Small outcomes ride the task's last event; a big one is fetched as its result."""
    with co.Parallel() as root:
        co.Exec(big, 10, name="small")
        co.Exec(big, 500_000, name="large")
    run = root.run(backend=dask_backend(cluster, images="local"))
    assert run["/small"].result == "x" * 10
    assert run["/large"].result == "x" * 500_000, run["/large"].stderr
