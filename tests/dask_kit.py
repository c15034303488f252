"""A real Dask cluster for tests: a `dask scheduler` and `dask worker` processes on 127.0.0.1,
each worker declaring its resources (and, for the Docker tests, its own environment)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.wait_kit import wait_for

BIN = Path(sys.executable).parent
#: The backends tests made on a cluster, closed before it stops: a Client left connected tries
#: to reconnect for 10 s in a background thread, drawing from `random` meanwhile (which a
#: Hypothesis test running then in the same process takes for its own strategy's doing).
_backends: list[Any] = []


def dask_backend(address: Any, **kw: Any) -> Any:
    """`co.DaskBackend(address, **kw)`, closed when its cluster stops."""
    import conducto_nb as co

    backend = co.DaskBackend(address, **kw)
    _backends.append(backend)
    return backend


def _close_backends() -> None:
    from conducto_nb.run.loop import background_loop

    while _backends:
        backend = _backends.pop()
        with contextlib.suppress(Exception):
            background_loop().submit(backend.close()).result(60)


@dataclass
class Spec:
    """One `dask worker`: its name, the CPU and MEMORY (bytes) it declares, extra env."""

    name: str
    cpu: float
    mem: float
    env: Mapping[str, str] = field(default_factory=dict)


@contextlib.contextmanager
def dask_cluster(where: Path, workers: list[Spec]) -> Iterator[str]:
    """Start the scheduler and `workers` (logs in `where`), yield the scheduler's address,
    stop them all at the end."""
    info = where / "scheduler.json"
    common = ["--no-dashboard"]
    fds: list[int] = []

    def log(path: Path) -> int:  # each process's log, kept for a failing test's reader
        fds.append(os.open(path, os.O_WRONLY | os.O_CREAT, 0o644))
        return fds[-1]

    scheduler = [BIN / "dask", "scheduler", "--host", "127.0.0.1", "--port", "0"]
    procs = [
        subprocess.Popen(
            [*scheduler, "--scheduler-file", info, *common],
            stdout=subprocess.DEVNULL,
            stderr=log(where / "scheduler.log"),
        )
    ]
    try:
        wait_for(info.exists, timeout=60, what="the Dask scheduler wrote its address")
        for spec in workers:
            resources = f"CPU={spec.cpu:g},MEMORY={spec.mem:.0f}"
            worker = [BIN / "dask", "worker", "--scheduler-file", info, "--name", spec.name]
            procs.append(
                subprocess.Popen(
                    [*worker, "--nthreads", "2", "--resources", resources, *common],
                    stdout=subprocess.DEVNULL,
                    stderr=log(where / f"{spec.name}.log"),
                    env={**os.environ, **spec.env},
                )
            )
        from distributed import Client

        with Client(scheduler_file=str(info), timeout=60) as client:
            client.wait_for_workers(len(workers), timeout=120)
            address: str = client.scheduler.address
        yield address
    finally:
        _close_backends()
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        for fd in fds:
            os.close(fd)
