"""A process that dies while it starts a container (a kernel killed mid-run) leaves no
container behind: the guard knows it from its creation, not only once it runs."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from backend_kit import BUSYBOX

from conducto_nb.backends.docker.args import BACKEND_LABEL
from tests.wait_kit import wait_for

DIES_WHILE_STARTING = f"""
import asyncio, os, signal
from conducto_nb.backends.docker.backend import DockerBackend
from conducto_nb.backends.docker.daemon import Launch

async def main():
    backend = DockerBackend()
    await backend.open()
    print(backend.id, flush=True)
    def die(*args, **kwargs):  # created, not started yet: the process is killed
        os.kill(os.getpid(), signal.SIGKILL)
    backend.daemon.api.start = die
    labels = {{"{BACKEND_LABEL}": backend.id}}
    await backend.daemon.launch(Launch({BUSYBOX!r}, labels, {{}}, {{}}))

asyncio.run(main())
"""


def test_a_container_created_by_a_process_killed_before_it_started_goes(
    docker_client: Any,
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", DIES_WHILE_STARTING], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == -9, done.stderr
    label = {"label": f"{BACKEND_LABEL}={done.stdout.strip()}"}

    def left() -> list[Any]:
        return docker_client.containers.list(all=True, sparse=True, filters=label)

    wait_for(lambda: not left(), timeout=60, what="the created container removed by the guard")
