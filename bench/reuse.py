"""Reuse for speed, as ratios measured side by side in one run: 200 shell `true` nodes in a
Parallel, through the same runner and the same concurrency (2, this machine's cores), on

  (a) the Docker backend: a warm pool, a fork per node in a running container     (ours)
  (b) a `docker exec` per node into one running container (SDK)
  (c) a `docker run` per node (SDK containers.run, removed after)
  (d) the local backend: a subprocess per node

Targets: (a) >= 20x faster than (c), >= 4x faster than (b), within 2x of (d).

Then 200 no-op Python callables the same way (image python:3.11-slim), on

  (e) the Docker backend: a fork of each container's warm Python per node          (ours)
  (f) the Docker backend with the warm Python off: a fresh python3 per node (as before it)
  (g) the local backend: its warm worker processes
  (h) the Docker backend, shell `true` nodes in the same image: what any Docker job costs

Targets: (e) >= 3x faster than (f), within 2x of (h). (h) is the floor of any job in a
container (the runner, the socket, dockerd's attach streams, the shell's fork), itself several
times (g): so (e) / (g) is printed without a target, and what a callable adds above that floor,
(e) - (h), is printed beside (g).

Each pipeline is Serial[warm: Parallel of 2 x `sleep 0.3`, work: Parallel of 200 x `true`]:
the warm stage brings every backend to its steady state (the pool's containers started, the
exec target running), and the figure is the work stage, from the end of the warm stage to its
last node's end. Start-up is printed beside it: from the start of the run to the first warm
node's start (for (a), its first container starting).

    .venv/bin/python bench/reuse.py [--nodes 200] [--rounds 3] [--image busybox:latest]
                                    [--python-image python:3.11-slim] [--only shell|calls]

Each figure is the median of --rounds runs, taken in turn so machine noise falls on all. With
3 rounds it takes about 3 minutes, nearly all of it (c).
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
from conducto_nb.backends.docker import script as docker_script
from conducto_nb.backends.docker.backend import DockerBackend
from conducto_nb.backends.local.backend import LocalBackend
from conducto_nb.model.states import State
from conducto_nb.run.loop import background_loop

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


class FreshPython(DockerBackend):
    """(f): the Docker backend as it ran callables before its warm Python: a fresh python3
    per callable (`timed` turns the warm Python off while it runs this one's pipelines)."""


def pause() -> None:
    time.sleep(0.3)


def noop() -> None:
    pass


def pipeline(nodes: int, image: str, calls: bool = False) -> co.Serial:
    with co.Serial(image=image) as root:
        with co.Parallel(name="warm"):
            for i in range(CONCURRENCY):
                co.Exec(pause if calls else "sleep 0.3", name=f"w{i}")
        with co.Parallel(name="work"):
            for i in range(nodes):
                co.Exec(noop if calls else "true", name=f"t{i}")
    return root


def timed(
    backend: Backend, nodes: int, image: str, work: Path, calls: bool = False
) -> tuple[float, float]:
    """(seconds for the work stage, seconds from the run's start to its first node's start)."""
    root = pipeline(nodes, image, calls)
    docker_script.WARM_PYTHON = not isinstance(backend, FreshPython)
    t0 = time.time()
    try:
        run = launch.run(root, backend=backend, workdir=work, persist=False)
    finally:
        docker_script.WARM_PYTHON = True
    assert run.state is State.DONE, run.state
    warm = [run[f"/warm/w{i}"] for i in range(CONCURRENCY)]
    done = [run[f"/work/t{i}"].ended for i in range(nodes)]
    warmed = max(n.ended or 0 for n in warm)
    first = min(n.started or 0 for n in warm)
    return max(d or 0 for d in done) - warmed, first - t0


Figures = dict[str, list[tuple[float, float]]]
#: name -> (backend, whether its nodes are callables)
Entries = dict[str, tuple[Backend, bool]]


def measure(entries: Entries, args: Any, work: Path, image: str) -> Figures:
    """Each backend's (work stage, start-up) seconds, --rounds times, taken in turn."""
    times: Figures = {name: [] for name in entries}
    for backend, calls in entries.values():  # warm-up: imports, daemon connection, caches
        timed(backend, 10, image, work, calls)
    for _ in range(args.rounds):
        for name, (backend, calls) in entries.items():
            times[name].append(timed(backend, args.nodes, image, work, calls))
    return times


def report(title: str, times: Figures, nodes: int, checks: list[tuple[str, str, str]]) -> bool:
    """Print the figures and the checks `(label, "x/y", "<= 2" or ">= 20")` over them, by the
    letters that start the backends' names; True if every check holds."""
    median = {name: statistics.median(w for w, _ in t) for name, t in times.items()}
    startup = {name: statistics.median(s for _, s in t) for name, t in times.items()}
    print(title)
    print(f"  {'':<40} {'work stage':>10}  {'per node':>11}  {'start-up':>9}")
    for name, took in median.items():
        per = took / nodes * 1000
        print(f"  {name:<40} {took:8.3f} s  {per:6.2f} ms/node  {startup[name]:7.3f} s")
    by_letter = {name[1]: took for name, took in median.items()}
    ok = True
    for label, ratio_of, target in checks:
        top, bottom = ratio_of.split("/")
        ratio = by_letter[top] / by_letter[bottom]
        bound = float(target[3:])
        met = ratio >= bound if target.startswith(">=") else ratio <= bound
        ok = ok and met
        print(
            f"  ({top}) / ({bottom}): {label:<36} {ratio:6.1f}x   target {target + 'x':<7} "
            f"{'ok' if met else 'MISSED'}"
        )
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--image", default="busybox:latest")
    parser.add_argument("--python-image", default="python:3.11-slim")
    parser.add_argument("--only", choices=["shell", "calls"])
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="conducto_nb-bench-work-"))
    shells: Entries = {
        "(a) warm pool (ours)": (DockerBackend(cpu_budget=CONCURRENCY), False),
        "(b) docker exec per node": (ExecPerNode(args.image), False),
        "(c) docker run per node": (RunPerNode(args.image), False),
        "(d) local backend": (LocalBackend(cpu_budget=CONCURRENCY), False),
    }
    calls: Entries = {
        "(e) warm pool, warm Python (ours)": (DockerBackend(cpu_budget=CONCURRENCY), True),
        "(f) warm pool, fresh python3 per node": (FreshPython(cpu_budget=CONCURRENCY), True),
        "(g) local backend, warm workers": (LocalBackend(cpu_budget=CONCURRENCY), True),
        "(h) warm pool, shell `true` nodes": (DockerBackend(cpu_budget=CONCURRENCY), False),
    }
    loop = background_loop()
    ok = True
    try:
        if args.only != "calls":
            times = measure(shells, args, work, args.image)
            ok &= report(
                f"{args.nodes} `true` nodes, concurrency {CONCURRENCY}, image {args.image}, "
                f"median of {args.rounds} rounds",
                times,
                args.nodes,
                [
                    ("warm pool vs docker run", "c/a", ">= 20"),
                    ("warm pool vs docker exec", "b/a", ">= 4"),
                    ("warm pool vs local", "a/d", "<= 2"),
                ],
            )
        if args.only != "shell":
            times = measure(calls, args, work, args.python_image)
            ok &= report(
                f"{args.nodes} no-op callable nodes ((h): `true`), concurrency {CONCURRENCY}, "
                f"image "
                f"{args.python_image}, median of {args.rounds} rounds",
                times,
                args.nodes,
                [
                    ("fresh python3 vs warm Python", "f/e", ">= 3"),
                    ("warm Python vs a shell job", "e/h", "<= 2"),
                ],
            )
            e, _, g, h = (statistics.median(w for w, _ in t) for t in times.values())
            print(f"  (e) / (g): warm Python vs local workers          {e / g:6.1f}x   (no target)")
            print(f"  (e) - (h): what a callable adds to a Docker job   {(e - h) / g:6.1f}x (g)")
    finally:
        for backend, _ in [*shells.values(), *calls.values()]:
            loop.submit(backend.close()).result()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
