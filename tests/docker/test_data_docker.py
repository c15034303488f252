"""co.data on the Docker backend (issue 17): three nodes in three containers pass data along
through the data service that the run's owner serves on this machine, reached from the bridge
network as host.docker.internal, with no shared filesystem."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import cloudpickle
import pytest
from backend_kit import BUSYBOX, PYTHON

import conducto_nb as co
from conducto_nb.backends.docker.backend import DockerBackend
from conducto_nb.run.loop import background_loop

pytestmark = pytest.mark.usefixtures("data_home")  # a store of its own, no service env


cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the image has no tests/


@pytest.fixture
def backend() -> Iterator[DockerBackend]:
    backend = DockerBackend(cpu_budget=2, idle_timeout=5)
    yield backend
    background_loop().submit(backend.close()).result(60)


def transform() -> None:
    import os
    import socket

    raw = co.data.pipeline.gets("raw")
    co.temp_data.puts("upper", raw.strip().upper())
    co.data.pipeline.puts("hosts/transform", socket.gethostname().encode())
    co.data.user.puts("kept", os.environ["CONDUCTO_PIPELINE_ID"].encode())


def test_three_nodes_in_three_containers_pass_data_along(
    data_home: Path, backend: DockerBackend
) -> None:
    # Three memory sizes: three pools, so three containers.
    with co.Serial(image=PYTHON) as root:
        co.Exec(
            "printf 'from a container' | conducto-data-pipeline puts --name raw && "
            "hostname | conducto-data-pipeline puts --name hosts/make",
            name="make",
            mem=0.5,
        )
        co.Exec(transform, name="transform", mem=0.6)
        co.Exec(
            'test "$(conducto-data-pipeline gets --name upper)" = "FROM A CONTAINER" && '
            "hostname | conducto-data-pipeline puts --name hosts/check && "
            "conducto-data-user gets --name kept",
            name="check",
            mem=0.7,
        )
    run = root.run(backend=backend)
    assert run.state is co.State.DONE, [run[p].stderr for p in ("/make", "/transform", "/check")]
    assert run["/check"].stdout == run.id
    stored = data_home / "data" / "pipelines" / run.id
    assert (stored / "upper").read_bytes() == b"FROM A CONTAINER"
    hosts = {(stored / "hosts" / n).read_bytes().strip() for n in ("make", "transform", "check")}
    assert len(hosts) == 3  # three containers, one filesystem each: only the service shared


def test_a_container_without_the_token_is_refused(backend: DockerBackend) -> None:
    with co.Serial(image=PYTHON) as root:
        co.Exec(
            "CONDUCTO_DATA_TOKEN=wrong conducto-data-pipeline puts --name x </dev/null",
            name="forged",
        )
    run = root.run(backend=backend)
    assert run["/forged"].state is co.State.ERROR
    assert "a valid CONDUCTO_DATA_TOKEN is required" in run["/forged"].stderr


def test_busybox_shell_nodes_use_the_commands_without_python(
    data_home: Path, backend: DockerBackend
) -> None:
    """busybox has no Python: the commands speak HTTP through its nc."""
    with co.Serial(image=BUSYBOX) as root:
        co.Exec(
            "printf 'line one\\nline two\\n' | conducto-data-pipeline puts --name 'in/a b' && "
            "head -c 200000 /dev/urandom > /tmp/big && "
            "conducto-data-pipeline put --name big --file /tmp/big && "
            "sha256sum < /tmp/big | conducto-data-pipeline puts --name big.sha",
            name="make",
        )
        co.Exec(
            "conducto-data-pipeline gets --name 'in/a b' | tr a-z A-Z "
            "| conducto-data-pipeline puts --name out && "
            "conducto-data-pipeline get --name big --file /tmp/copy && "
            'test "$(sha256sum < /tmp/copy)" = "$(conducto-data-pipeline gets --name big.sha)"',
            name="transform",
            mem=0.6,
        )
        co.Exec(
            "conducto-data-pipeline gets --name out && conducto-data-pipeline list && "
            "conducto-data-pipeline exists --name nope && conducto-data-pipeline size --name out"
            " && conducto-data-pipeline gets --name 'in/a b' --byte-range 5,8 && echo && "
            "conducto-data-pipeline delete --name big && conducto-data-pipeline gets --name big",
            name="check",
            mem=0.7,
        )
    run = root.run(backend=backend)
    assert run["/transform"].state is co.State.DONE, run["/make"].stderr + run["/transform"].stderr
    assert run["/check"].stdout == (
        "LINE ONE\nLINE TWO\nbig\nbig.sha\nin/a b\nout\nfalse\n18\none\n"
    )
    assert run["/check"].state is co.State.ERROR  # the last gets: big was deleted
    assert f"no object 'big' in the pipeline '{run.id}' data" in run["/check"].stderr
    assert (data_home / "data" / "pipelines" / run.id / "out").read_bytes() == (
        b"LINE ONE\nLINE TWO\n"
    )


def test_help_without_python_is_an_answer_too(backend: DockerBackend) -> None:
    with co.Serial(image=BUSYBOX) as root:
        co.Exec("conducto-data-pipeline --help", name="help")
    run = root.run(backend=backend)
    assert run.state is co.State.DONE, run["/help"].stderr
    assert run["/help"].stdout.startswith("usage: conducto-data-pipeline puts|put|gets|get")
