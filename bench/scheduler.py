"""Scheduler speed, as ratios measured side by side in one run:

1. 1,000 shell `true` nodes in a Parallel, parallelism 2, against a bare
   asyncio.create_subprocess_exec loop under a Semaphore(2).          target <= 1.3x
2. 2,000 no-op callables in a Parallel, parallelism 2, against client.map on a
   distributed.LocalCluster(n_workers=2, threads_per_worker=1).        target <= 1.0x
3. 40 sequential 10 ms sleeps, end to end in a fresh process, against the same flow in
   Prefect (installed into bench/.venv-prefect by this script).         target >= 5x faster

    .venv/bin/python bench/scheduler.py [--rounds 3] [--skip-prefect]

Each figure is the median of --rounds runs; ours and the peer's alternate so machine noise
falls on both.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
PREFECT_VENV = HERE / ".venv-prefect"
os.environ.setdefault("CONDUCTO_NB_HOME", tempfile.mkdtemp(prefix="conducto_nb-bench-"))

import conducto_nb as co  # noqa: E402
from conducto_nb.backends.local.backend import LocalBackend  # noqa: E402


def noop() -> None:
    return None


def ours_shell(n: int = 1000) -> float:
    with co.Parallel() as root:
        for i in range(n):
            co.Exec("true", name=f"t{i}")
    t0 = time.perf_counter()
    run = root.run(backend=BACKEND)
    took = time.perf_counter() - t0
    assert run.state is co.State.DONE
    return took


def bare_shell(n: int = 1000) -> float:
    async def main() -> None:
        sem = asyncio.Semaphore(2)

        async def one() -> None:
            async with sem:
                proc = await asyncio.create_subprocess_exec("true")
                await proc.wait()

        await asyncio.gather(*(one() for _ in range(n)))

    t0 = time.perf_counter()
    asyncio.run(main())
    return time.perf_counter() - t0


def ours_calls(n: int = 2000) -> float:
    with co.Parallel() as root:
        for i in range(n):
            co.Exec(noop, name=f"c{i}")
    t0 = time.perf_counter()
    run = root.run(backend=BACKEND)
    took = time.perf_counter() - t0
    assert run.state is co.State.DONE
    return took


def dask_calls(client: object, n: int = 2000) -> float:
    t0 = time.perf_counter()
    futures = client.map(lambda i: None, range(n), pure=False)  # type: ignore[attr-defined]
    client.gather(futures)  # type: ignore[attr-defined]
    return time.perf_counter() - t0


OURS_SLEEPS = textwrap.dedent("""
    import time
    import conducto_nb as co
    def nap():
        time.sleep(0.01)
    with co.Serial() as root:
        for i in range(40):
            co.Exec(nap, name=f"s{i}")
    assert root.run().state is co.State.DONE
""")

PREFECT_SLEEPS = textwrap.dedent("""
    import time
    from prefect import flow, task
    @task
    def nap():
        time.sleep(0.01)
    @flow
    def naps():
        for i in range(40):
            nap()
    naps()
""")


def fresh_process(python: str, code: str, env: dict[str, str] | None = None) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        [python, "-c", code], check=True, capture_output=True, env={**os.environ, **(env or {})}
    )
    return time.perf_counter() - t0


def ensure_prefect() -> str:
    python = PREFECT_VENV / "bin" / "python"
    if not python.exists():
        print("bench: installing Prefect into bench/.venv-prefect (once)...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(PREFECT_VENV)], check=True)
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                "prefect==3.8.8",
                "fastapi==0.139.2",
            ],
            check=True,
            capture_output=True,
        )
    return str(python)


def median_pair(
    ours: Callable[[], float], peer: Callable[[], float], rounds: int
) -> tuple[float, float]:
    a, b = [], []
    for _ in range(rounds):
        a.append(ours())
        b.append(peer())
    return statistics.median(a), statistics.median(b)


def report(name: str, ours: float, peer: float, target: str, ok: bool) -> None:
    print(
        f"{name:58} ours {ours * 1000:8.1f} ms  peer {peer * 1000:8.1f} ms  "
        f"ratio {ours / peer:5.2f}x  target {target:8} {'ok' if ok else 'MISSED'}",
        flush=True,
    )


BACKEND = LocalBackend(cpu_budget=2)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-prefect", action="store_true")
    args = parser.parse_args()

    ours_shell(50)  # warm the store, the loop and the backend
    ours_calls(50)
    a, b = median_pair(ours_shell, bare_shell, args.rounds)
    report(
        "1,000 shell `true`, parallelism 2 (vs bare asyncio loop)", a, b, "<= 1.3x", a / b <= 1.3
    )

    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, dashboard_address=None, processes=True
        ) as cluster,
        Client(cluster) as client,
    ):
        dask_calls(client, 50)
        a, b = median_pair(ours_calls, lambda: dask_calls(client), args.rounds)
    report(
        "2,000 no-op callables, parallelism 2 (vs Dask client.map)", a, b, "<= 1.0x", a / b <= 1.0
    )

    if not args.skip_prefect:
        prefect = ensure_prefect()
        home = tempfile.mkdtemp(prefix="prefect-bench-")
        penv = {
            "PREFECT_HOME": home,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_LOGGING_LEVEL": "WARNING",
        }
        a, b = median_pair(
            lambda: fresh_process(sys.executable, OURS_SLEEPS),
            lambda: fresh_process(prefect, PREFECT_SLEEPS, penv),
            args.rounds,
        )
        print(
            f"{'40 sequential 10 ms sleeps, fresh process (vs Prefect)':58} ours "
            f"{a * 1000:8.1f} ms  peer {b * 1000:8.1f} ms  ours is {b / a:5.1f}x faster  "
            f"target >= 5x   {'ok' if b / a >= 5 else 'MISSED'}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
