"""What spare containers save: W3 on Docker (200 shell `true` nodes, 2 at a time, time per node
including the pool's start-up), and W2 (200 no-op Python callables, the same way), in a
pipeline that follows another of the same kind, with spares (the default) and without
(`spare_timeout=0`), measured alternately in one process.

  back to back  the next pipeline starts the moment the last one ends (a script's loop): its
                spares are still starting, and the last one's containers are being removed
  2 s later     a notebook's next cell: the spares are ready

    .venv/bin/python bench/spares.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import conducto_nb as co


def noop() -> None:
    pass


def pipeline(nodes: int, command: Any) -> co.Parallel:
    root = co.Parallel(max_concurrent=2)
    with root:
        for i in range(nodes):
            co.Exec(command, name=f"t{i}")
    return root


def per_node_ms(backend: co.DockerBackend, command: Any, pause: float) -> float:
    """The 200-node pipeline's time per node, `pause` s after a 2-node one of the same kind."""
    assert pipeline(2, command).run(backend=backend).state is co.State.DONE
    time.sleep(pause)
    root = pipeline(200, command)
    t0 = time.perf_counter()
    assert root.run(backend=backend).state is co.State.DONE
    return (time.perf_counter() - t0) / 200 * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    without, spares = co.DockerBackend(spare_timeout=0), co.DockerBackend()
    print(f"On Docker, ms per node including start-up (median of {rounds})")
    print(f"{'':3} {'next pipeline':14} {'no spares':>10} {'spares':>8} {'ratio':>6}")
    for work, command in (("W3", "true"), ("W2", noop)):
        for label, pause in (("back to back", 0.0), ("2 s later", 2.0)):
            times: dict[str, list[float]] = {"without": [], "spares": []}
            for _ in range(rounds):
                times["without"].append(per_node_ms(without, command, pause))
                time.sleep(pause)
                times["spares"].append(per_node_ms(spares, command, pause))
                time.sleep(pause)
            a, b = (statistics.median(times[k]) for k in ("without", "spares"))
            print(f"{work:3} {label:14} {a:10.2f} {b:8.2f} {b / a:5.2f}x")


if __name__ == "__main__":
    main()
