"""Reuse for speed, as ratios measured side by side in one run: 200 shell `true` nodes in a
Parallel, through the same runner and the same concurrency (2, this machine's cores), on

  (a) the Docker backend: a warm pool, a fork per node in a running container     (ours)
  (b) a `docker exec` per node into one running container (SDK)
  (c) a `docker run` per node (SDK containers.run, removed after)
  (d) the local backend: a subprocess per node

Targets: (a) >= 20x faster than (c), >= 4x faster than (b), within 2x of (d).

Each pipeline is Serial[warm: Parallel of 2 x `sleep 0.3`, work: Parallel of 200 x `true`]:
the warm stage brings every backend to its steady state (the pool's containers started, the
exec target running), and the figure is the work stage, from the end of the warm stage to its
last node's end. Start-up is printed beside it: from the start of the run to the first warm
node's start (for (a), its first container starting).

    .venv/bin/python bench/reuse.py [--nodes 200] [--rounds 3] [--image busybox:latest]

Each figure is the median of --rounds runs, taken in turn so machine noise falls on all. With
3 rounds it takes about 2.5 minutes, nearly all of it (c).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("CONDUCTO_NB_HOME", tempfile.mkdtemp(prefix="conducto_nb-bench-"))

import docker

import conducto_nb as co
from conducto_nb import launch
from conducto_nb.backends.base import Backend, Job, Outcome, OutputSink
from conducto_nb.backends.docker import DockerBackend
from conducto_nb.backends.local import LocalBackend
from conducto_nb.loop import background_loop
from conducto_nb.states import State

CONCURRENCY = 2


class _SdkBackend(Backend):
    """A naive Docker backend for comparison: one blocking SDK call sequence per node, on a
    thread, at most CONCURRENCY at once."""

    def __init__(self, image: str) -> None:
        self.image = image
        self.client = docker.from_env()
        self.gate: asyncio.Semaphore | None = None

    async def run(self, job: Job, output: OutputSink, started: Callable[[], None]) -> Outcome:
        if self.gate is None:
            self.gate = asyncio.Semaphore(CONCURRENCY)
        async with self.gate:
            started()
            assert job.command.shell is not None
            code, text = await asyncio.to_thread(self.one, job.command.shell)
        output("stdout", text)
        return Outcome(State.DONE if code == 0 else State.ERROR, code)

    def one(self, cmd: str) -> tuple[int, str]:
        raise NotImplementedError


class ExecPerNode(_SdkBackend):
    """(b): `docker exec` into one long-running container per node."""

    name = "exec-per-node"

    box: Any = None

    async def open(self) -> None:
        if self.box is None:  # one running container for every run
            self.box = await asyncio.to_thread(
                self.client.containers.run,
                self.image,
                ["sleep", "3600"],
                detach=True,
                labels={"conducto_nb.bench": "reuse"},
            )

    def one(self, cmd: str) -> tuple[int, str]:
        code, out = self.box.exec_run(["sh", "-c", cmd])
        return int(code), out.decode()

    async def close(self) -> None:
        if self.box is not None:
            await asyncio.to_thread(self.box.remove, force=True)
            self.box = None


class RunPerNode(_SdkBackend):
    """(c): a new container per node, removed after it."""

    name = "run-per-node"

    def one(self, cmd: str) -> tuple[int, str]:
        out = self.client.containers.run(self.image, ["sh", "-c", cmd], remove=True)
        return 0, out.decode()


def pipeline(nodes: int, image: str) -> co.Serial:
    with co.Serial(image=image) as root:
        with co.Parallel(name="warm"):
            for i in range(CONCURRENCY):
                co.Exec("sleep 0.3", name=f"w{i}")
        with co.Parallel(name="work"):
            for i in range(nodes):
                co.Exec("true", name=f"t{i}")
    return root


def timed(backend: Backend, nodes: int, image: str, work: Path) -> tuple[float, float]:
    """(seconds for the work stage, seconds from the run's start to its first node's start)."""
    root = pipeline(nodes, image)
    t0 = time.time()
    run = launch.run(root, backend=backend, workdir=work, persist=False)
    assert run.state is State.DONE, run.state
    warm = [run[f"/warm/w{i}"] for i in range(CONCURRENCY)]
    done = [run[f"/work/t{i}"].ended for i in range(nodes)]
    warmed = max(n.ended or 0 for n in warm)
    first = min(n.started or 0 for n in warm)
    return max(d or 0 for d in done) - warmed, first - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--image", default="busybox:latest")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="conducto_nb-bench-work-"))
    backends: dict[str, Any] = {
        "(a) warm pool (ours)": DockerBackend(cpu_budget=CONCURRENCY),
        "(b) docker exec per node": ExecPerNode(args.image),
        "(c) docker run per node": RunPerNode(args.image),
        "(d) local backend": LocalBackend(cpu_budget=CONCURRENCY),
    }
    loop = background_loop()
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in backends}
    try:
        for backend in backends.values():  # warm-up: imports, daemon connection, caches
            timed(backend, 10, args.image, work)
        for _ in range(args.rounds):
            for name, backend in backends.items():
                times[name].append(timed(backend, args.nodes, args.image, work))
    finally:
        for backend in backends.values():
            loop.submit(backend.close()).result()
    median = {name: statistics.median(w for w, _ in t) for name, t in times.items()}
    startup = {name: statistics.median(s for _, s in t) for name, t in times.items()}
    print(
        f"{args.nodes} `true` nodes, concurrency {CONCURRENCY}, image {args.image}, "
        f"median of {args.rounds} rounds"
    )
    print(f"  {'':<28} {'work stage':>10}  {'per node':>11}  {'start-up':>9}")
    for name, took in median.items():
        per = took / args.nodes * 1000
        print(f"  {name:<28} {took:8.3f} s  {per:6.2f} ms/node  {startup[name]:7.3f} s")
    a, b, c, d = median.values()
    checks = [
        ("(c) / (a): warm pool vs docker run ", c / a, ">= 20x", c / a >= 20),
        ("(b) / (a): warm pool vs docker exec", b / a, ">= 4x", b / a >= 4),
        ("(a) / (d): warm pool vs local      ", a / d, "<= 2x", a / d <= 2),
    ]
    for label, ratio, target, ok in checks:
        print(f"  {label} {ratio:6.1f}x   target {target:<7} {'ok' if ok else 'MISSED'}")
    sys.exit(0 if all(ok for *_, ok in checks) else 1)


if __name__ == "__main__":
    main()
