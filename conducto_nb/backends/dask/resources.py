"""Matching nodes to Dask workers by `cpu` and `mem`, before anything runs.

Workers that declare resources (`dask worker --resources "CPU=4,MEMORY=8e9"`, MEMORY in
bytes) get each Exec as a task asking for its `cpu` and `mem`; a task asking for more than
any worker offers would wait forever, so such a node is an error at once, naming it. Where no
worker declares them, tasks ask for none (Dask then only counts threads) and nothing is
checked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ...errors import BackendError

__all__ = ["GIB", "check_fits", "declared", "task_resources"]

GIB = 2**30


def declared(scheduler_info: Mapping[str, Any]) -> list[dict[str, float]]:
    """The CPU / MEMORY each worker declares (workers that declare neither left out)."""
    found = []
    for worker in scheduler_info.get("workers", {}).values():
        offered = {k: float(v) for k, v in (worker.get("resources") or {}).items()}
        if "CPU" in offered or "MEMORY" in offered:
            found.append(offered)
    return found


def task_resources(cpu: float, mem: float, workers: list[dict[str, float]]) -> dict[str, float]:
    """What a task asks for: only the resources some worker declares."""
    asked: dict[str, float] = {}
    if any("CPU" in w for w in workers):
        asked["CPU"] = cpu
    if any("MEMORY" in w for w in workers):
        asked["MEMORY"] = mem * GIB
    return asked


def check_fits(jobs: Iterable[tuple[str, float, float]], workers: list[dict[str, float]]) -> None:
    """Raise one BackendError naming every node (path, cpu, mem in GB) no worker can take."""
    if not workers:
        return
    too_big = []
    for path, cpu, mem in jobs:
        asked = task_resources(cpu, mem, workers)
        if not any(all(w.get(k, 0) >= v for k, v in asked.items()) for w in workers):
            too_big.append(f"{path} (cpu={cpu:g}, mem={mem:g} GB)")
    if too_big:
        largest = "; ".join(
            sorted({_offer(w) for w in workers}, key=len)[-3:]  # a few, for the message
        )
        raise BackendError(
            f"no Dask worker is big enough for {', '.join(too_big)}: the workers offer "
            f"{largest}; ask for less, or start a worker that offers more"
        )


def _offer(worker: Mapping[str, float]) -> str:
    cpu = f"cpu={worker['CPU']:g}" if "CPU" in worker else "cpu=any"
    mem = f"mem={worker['MEMORY'] / GIB:.3g} GB" if "MEMORY" in worker else "mem=any"
    return f"{cpu}, {mem}"
