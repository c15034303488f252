"""The Dask backend's cost per node: N no-op shell nodes and N no-op callables, all queued,
on a 2-worker LocalCluster, against raw `client.submit` of the same work (a `true`
subprocess; a call in a subprocess), measured side by side in one run.

Target (issue 21): our per-node overhead at most 1.5x raw submit.

    .venv/bin/python bench/dask_overhead.py [--nodes 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time


def noop() -> None:
    pass


def raw_shell() -> int:
    return subprocess.run(["/bin/sh", "-c", "true"]).returncode


def raw_call() -> int:
    return subprocess.run([sys.executable, "-c", "pass"]).returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument(
        "--repeat", type=int, default=1, help="raw and ours in turn, this many times (medians)"
    )
    args = parser.parse_args()
    os.environ.setdefault("CONDUCTO_NB_HOME", tempfile.mkdtemp(prefix="conducto_nb-dask-"))
    import cloudpickle
    from distributed import Client, LocalCluster

    import conducto_nb as co

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    n = args.nodes
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster:
        # images="local": the same subprocess call as the raw submit, not a container
        backend = co.DaskBackend(cluster.scheduler_address, images="local")
        with Client(cluster) as client:

            def raw(func: object) -> float:
                t0 = time.perf_counter()
                futures = [client.submit(func, pure=False) for _ in range(n)]
                client.gather(futures)
                return (time.perf_counter() - t0) / n

            def ours(make: object) -> float:
                with co.Parallel() as root:  # all at once, as the raw submits
                    for i in range(n):
                        make(i)  # type: ignore[operator]
                t0 = time.perf_counter()
                run = root.run(backend=backend)
                assert run.state is co.State.DONE, run.state
                return (time.perf_counter() - t0) / n

            ours(lambda i: co.Exec("true", name=f"w{i}")) if n > 10 else None  # warm up

            def turns(func: object, make: object) -> tuple[float, float]:
                """Raw then ours, `--repeat` times in turn (a busy machine's load hits both)."""
                pairs = [(raw(func), ours(make)) for _ in range(args.repeat)]
                return statistics.median(p[0] for p in pairs), statistics.median(
                    p[1] for p in pairs
                )

            rows = [
                ("shell `true`", *turns(raw_shell, lambda i: co.Exec("true", name=f"s{i}"))),
                ("callable", *turns(raw_call, lambda i: co.Exec(noop, name=f"c{i}"))),
            ]
    print(f"{n} nodes, 2 workers x 1 thread, per node (median of {args.repeat}):")
    for what, base, mine in rows:
        print(
            f"  {what:<14} raw submit {base * 1e3:6.2f} ms   conducto_nb {mine * 1e3:6.2f} ms"
            f"   ratio {mine / base:4.2f}x"
        )


if __name__ == "__main__":
    main()
