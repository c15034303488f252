"""Soak: many small pipelines in one process, the way a notebook kernel lives for days. Prints
what the process holds at the start, after a warm-up, and at the end (memory, open fds,
threads, pipelines held in memory, the store and its WAL, control sockets, containers of this
process), the growth per 100 pipelines, and how long a pipeline takes among the first 10 and
the last 10 after the warm-up. Nothing may grow with the count but the store; nothing slows.

Each pipeline is Serial[a: `true`, b: Parallel[c: `echo hi`, d: a no-op Python callable]],
started with `root.run()` and its handle dropped, as a cell that runs a pipeline does.

    .venv/bin/python bench/soak.py [--pipelines 1000] [--backend local|docker]
                                   [--image python:3.11-slim]

(the Docker image needs this Python's minor version: the callable node runs in it)
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import statistics
import tempfile
import threading
import time
from pathlib import Path


def _noop() -> None:
    pass


def _tree(image: str | None) -> object:
    import conducto_nb as co

    with co.Serial(image=image) as root:
        co.Exec("true", name="a")
        with co.Parallel(name="b"):
            co.Exec("echo hi", name="c")
            co.Exec(_noop, name="d")
    return root


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _containers() -> int | None:
    try:
        import docker
    except ImportError:
        return None
    try:
        client = docker.from_env()
        found = client.containers.list(
            all=True, sparse=True, filters={"label": f"conducto_nb.owner_pid={os.getpid()}"}
        )
        client.close()
        return len(found)
    except Exception:  # no daemon: nothing to count
        return None


def _snapshot(home: Path) -> dict[str, float | int | None]:
    from conducto_nb.run import runs

    gc.collect()
    store, wal = home / "store.db", home / "store.db-wal"
    sockets = list((home / "control").glob("*.sock")) if (home / "control").exists() else []
    return {
        "rss MB": round(_rss_mb(), 1),
        "fds": len(os.listdir("/proc/self/fd")),
        "threads": threading.active_count(),
        "runs held": len(runs.LIVE),
        "store kB": store.stat().st_size // 1024 if store.exists() else 0,
        "wal kB": wal.stat().st_size // 1024 if wal.exists() else 0,
        "control sockets": len(sockets),
        "containers": _containers(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pipelines", type=int, default=1000)
    parser.add_argument("--backend", default="local")
    parser.add_argument("--image", default="python:3.11-slim")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="conducto_nb-soak-"))
    os.environ["CONDUCTO_NB_HOME"] = str(home)
    image = args.image if args.backend == "docker" else None

    warm = 20
    started = time.perf_counter()
    before = _snapshot(home)
    for _ in range(warm):
        _tree(image).run(backend=args.backend)  # type: ignore[attr-defined]
    after_warm = _snapshot(home)
    failed = 0
    each: list[float] = []  # seconds per pipeline, after the warm-up
    for _ in range(args.pipelines - warm):
        t0 = time.perf_counter()
        run = _tree(image).run(backend=args.backend)  # type: ignore[attr-defined]
        each.append(time.perf_counter() - t0)
        failed += run.state.value != "done"
        del run
    end = _snapshot(home)
    took = time.perf_counter() - started
    print(
        f"{args.pipelines} pipelines on the {args.backend} backend in {took:.1f} s, {failed} failed"
    )
    print(f"{'':18}{'start':>10}{'after ' + str(warm):>12}{'end':>10}{'per 100 after warm-up':>24}")
    for key in before:
        a, b, c = before[key], after_warm[key], end[key]
        if b is None or c is None:
            growth = "-"
        else:
            growth = f"{(c - b) * 100 / (args.pipelines - warm):+.2f}"
        print(f"{key:18}{a!s:>10}{b!s:>12}{c!s:>10}{growth:>24}")
    first, last = statistics.median(each[:10]) * 1000, statistics.median(each[-10:]) * 1000
    print(
        f"a pipeline (median of 10): the first 10 after warm-up {first:.1f} ms, "
        f"the last 10 {last:.1f} ms: {last / first:.2f}x"
    )


if __name__ == "__main__":
    main()
