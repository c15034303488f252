"""A chain of nodes, one after another: what each step costs after the first, beside the limit.

A Serial of `--nodes` shell `true` steps after a warm step (which starts the Docker pool's
container), on

  bare    `subprocess.run(["sh", "-c", "true"])` in a loop: the limit
  local   the local backend: a process per step
  docker  the Docker backend: each step a fork in the pipeline's one warm container

The figure is the time from the warm step's end to the last step's end, per step: the hop from
one node to the next. Target (issue 22): Docker <= 2 ms per hop. Each backend runs --rounds
times in turn (machine noise falls on all); the median is printed, with the ratio to bare.

    .venv/bin/python bench/hop.py [--nodes 100] [--rounds 5] [--image IMAGE]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time

os.environ.setdefault("CONDUCTO_NB_HOME", tempfile.mkdtemp(prefix="conducto_nb-hop-"))

import conducto_nb as co


def bare(nodes: int) -> float:
    t0 = time.perf_counter()
    for _ in range(nodes):
        subprocess.run(["sh", "-c", "true"], check=True)
    return (time.perf_counter() - t0) / nodes


def chain(nodes: int, backend: str, image: str | None) -> float:
    with co.Serial(image=image) as root:
        co.Exec("true", name="warm")
        with co.Serial(name="chain"):
            for i in range(nodes):
                co.Exec("true", name=f"n{i}")
    run = root.run(backend=backend)
    if run.state is not co.State.DONE:
        raise SystemExit(f"the {backend} chain ended {run.state.value}:\n{run.pretty()}")
    warm_end = run["/warm"].attempts[-1].ended
    last_end = run[f"/chain/n{nodes - 1}"].attempts[-1].ended
    assert warm_end is not None and last_end is not None
    return (last_end - warm_end) / nodes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--image", default=None, help="the Docker steps' image (the default's)")
    parser.add_argument("--no-docker", action="store_true")
    args = parser.parse_args()
    kinds = ["bare", "local"] + ([] if args.no_docker else ["docker"])
    times: dict[str, list[float]] = {k: [] for k in kinds}
    for _ in range(args.rounds):
        for kind in kinds:
            if kind == "bare":
                times[kind].append(bare(args.nodes))
            else:
                times[kind].append(chain(args.nodes, kind, args.image))
    limit = statistics.median(times["bare"])
    print(f"a chain of {args.nodes} steps, median of {args.rounds}: per hop, ratio to bare")
    for kind in kinds:
        each = statistics.median(times[kind])
        print(f"  {kind:8}{each * 1e3:8.2f} ms ({each / limit:5.2f}x)")


if __name__ == "__main__":
    main()
