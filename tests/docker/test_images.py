"""The offline images that scripts/images.sh builds exist, run, and honour resource limits.

Fixtures (`docker_client`, `containers`) come from this folder's conftest.py.
"""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.docker

BUSYBOX = "busybox:latest"
PYTHON = "python:3.11-slim"


@pytest.mark.parametrize(
    ("name", "alias"),
    [("conducto-nb/busybox:latest", BUSYBOX), ("conducto-nb/python:3.11", PYTHON)],
)
def test_image_and_its_familiar_name_are_one_image(containers: Any, name: str, alias: str):
    assert containers.image(name).id == containers.image(alias).id


def test_busybox_runs_a_shell(containers: Any):
    containers.image(BUSYBOX)
    ran = containers.run(BUSYBOX, ["sh", "-c", "echo hi"])
    assert (ran.exit_code, ran.output) == (0, "hi\n")


def test_python_image_has_python_3_11_and_cloudpickle(containers: Any):
    containers.image(PYTHON)
    code = "import cloudpickle, sys; print(sys.version_info[:2])"
    ran = containers.run(PYTHON, ["python", "-c", code])
    assert (ran.exit_code, ran.output) == (0, "(3, 11)\n")


def test_pip_in_the_python_image_is_not_blocked_by_pep_668(containers: Any):
    containers.image(PYTHON)
    ran = containers.run(PYTHON, ["sh", "-c", "test ! -e /usr/lib/python3.11/EXTERNALLY-MANAGED"])
    assert ran.exit_code == 0


# The container's own cgroup files show the limits (cgroup v1 on these machines, v2 elsewhere).
READ_LIMITS = (
    "cat /sys/fs/cgroup/memory.max 2>/dev/null"
    " || cat /sys/fs/cgroup/memory/memory.limit_in_bytes;"
    " cat /sys/fs/cgroup/cpu.max 2>/dev/null"
    " || echo $(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us)"
)


def test_a_container_with_cpu_and_memory_limits_starts(containers: Any):
    containers.image(BUSYBOX)
    # = docker run --cpus 0.5 --memory 64m
    ran = containers.run(BUSYBOX, ["sh", "-c", READ_LIMITS], nano_cpus=5 * 10**8, mem_limit="64m")
    assert ran.exit_code == 0, ran.output
    assert ran.attrs["HostConfig"]["NanoCpus"] == 5 * 10**8
    assert ran.attrs["HostConfig"]["Memory"] == 64 * 2**20
    assert ran.output.split("\n")[:2] == [str(64 * 2**20), "50000 100000"]


def test_going_over_the_memory_limit_is_an_oom_kill(containers: Any):
    containers.image(PYTHON)
    ran = containers.run(PYTHON, ["python", "-c", "b = bytearray(256 * 2**20)"], mem_limit="64m")
    assert ran.exit_code == 137
    assert ran.attrs["State"]["OOMKilled"] is True


def test_containers_are_removed_after_running_or_failing_to_start(containers: Any):
    import docker

    containers.image(BUSYBOX)
    containers.run(BUSYBOX, ["true"])
    with pytest.raises(docker.errors.APIError):
        containers.run(BUSYBOX, ["/no/such/binary"])  # created, then fails to start
    assert containers.leftovers() == []
