"""conducto_nb beside the limit and a peer, three workloads, each run in a fresh process:

  W1  a chain of 40 nodes each sleeping 10 ms (`sleep 0.01`), the whole process end to end
  W2  200 no-op Python callables, 2 at a time: the run's time per node (after a first,
      two-node run in the same process: W1 measures start-up)
  W3  200 shell `true` nodes, 2 at a time: the same, per node

"bare" is the limit, a plain loop doing the same work with nothing else (subprocesses from
asyncio under a Semaphore(2); a ProcessPoolExecutor(2) for callables); "dask" is Dask
distributed on a LocalCluster of 2 single-thread workers (its start counted in W1 only).
Prints one table of medians and the ratios to bare (targets, issue 22: W1 local <= 1.25x,
W3 local <= 1.3x, W2 local <= 2x).

    .venv/bin/python bench/peers.py [--rounds 3] [--no-docker] [--no-dask]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

PRELUDE = "import os, sys, time, json, asyncio\n"

OURS = {
    "W1": """
        import conducto_nb as co
        with co.Serial() as root:
            for i in range(40):
                co.Exec("sleep 0.01", name=f"s{i}")
        assert root.run(backend=BACKEND).state is co.State.DONE
    """,
    "W2": """
        import conducto_nb as co
        def noop():
            return None
        with co.Parallel(max_concurrent=2) as warm:
            co.Exec(noop, name="a"), co.Exec(noop, name="b")
        warm.run(backend=BACKEND)  # the first run's start-up is W1's: here, the cost per node
        with co.Parallel(max_concurrent=2) as root:
            for i in range(200):
                co.Exec(noop, name=f"c{i}")
        t0 = time.perf_counter()
        assert root.run(backend=BACKEND).state is co.State.DONE
        print(json.dumps((time.perf_counter() - t0) / 200))
    """,
    "W3": """
        import conducto_nb as co
        with co.Parallel(max_concurrent=2) as warm:
            co.Exec("true", name="a"), co.Exec("true", name="b")
        warm.run(backend=BACKEND)
        with co.Parallel(max_concurrent=2) as root:
            for i in range(200):
                co.Exec("true", name=f"t{i}")
        t0 = time.perf_counter()
        assert root.run(backend=BACKEND).state is co.State.DONE
        print(json.dumps((time.perf_counter() - t0) / 200))
    """,
}

BARE = {
    "W1": """
        import subprocess
        for i in range(40):
            subprocess.run(["sleep", "0.01"], check=True)
    """,
    "W2": """
        from concurrent.futures import ProcessPoolExecutor
        def noop(i):
            return None
        if __name__ == "__main__":
            with ProcessPoolExecutor(2) as pool:
                list(pool.map(noop, range(2)))  # the pool started, as a warm backend is
                t0 = time.perf_counter()
                list(pool.map(noop, range(200)))
                print(json.dumps((time.perf_counter() - t0) / 200))
    """,
    "W3": """
        async def main():
            sem = asyncio.Semaphore(2)
            async def one():
                async with sem:
                    proc = await asyncio.create_subprocess_exec("true")
                    await proc.wait()
            await asyncio.gather(*(one() for _ in range(200)))
        t0 = time.perf_counter()
        asyncio.run(main())
        print(json.dumps((time.perf_counter() - t0) / 200))
    """,
}

#: W3's bare loop with each `true` run as a shell node runs it: through `sh -c` (a shell's
#: start is part of every shell node, on any backend).
BARE_SHELL = BARE["W3"].replace(
    'create_subprocess_exec("true")', 'create_subprocess_exec("sh", "-c", "true")'
)
assert BARE["W3"] != BARE_SHELL

DASK = {
    "W1": """
        import subprocess
        from distributed import Client, LocalCluster
        def nap(previous):
            subprocess.run(["sleep", "0.01"], check=True)
        if __name__ == "__main__":
            with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as c:
                with Client(c) as client:
                    f = None
                    for i in range(40):
                        f = client.submit(nap, f, pure=False)
                    f.result()
    """,
    "W2": """
        from distributed import Client, LocalCluster
        def noop(i):
            return None
        if __name__ == "__main__":
            with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as c:
                with Client(c) as client:
                    t0 = time.perf_counter()
                    client.gather(client.map(noop, range(200), pure=False))
                    print(json.dumps((time.perf_counter() - t0) / 200))
    """,
    "W3": """
        import subprocess
        from distributed import Client, LocalCluster
        def true(i):
            return subprocess.run(["true"]).returncode
        if __name__ == "__main__":
            with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as c:
                with Client(c) as client:
                    t0 = time.perf_counter()
                    client.gather(client.map(true, range(200), pure=False))
                    print(json.dumps((time.perf_counter() - t0) / 200))
    """,
}


def once(code: str, backend: str | None = None) -> float:
    """One fresh process: W1's wall time, else the per-node time the script prints."""
    env = {**os.environ, "CONDUCTO_NB_HOME": tempfile.mkdtemp(prefix="conducto_nb-peers-")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # byte code cached, as on a user's machine
    head = PRELUDE + (f"BACKEND = {backend!r}\n" if backend else "")
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(head + textwrap.dedent(code))
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, f.name], capture_output=True, text=True, env=env)
    took = time.perf_counter() - t0
    os.unlink(f.name)
    if out.returncode != 0:
        raise SystemExit(f"bench failed:\n{out.stderr[-2000:]}")
    printed = out.stdout.strip().splitlines()
    return float(json.loads(printed[-1])) if printed else took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-docker", action="store_true")
    parser.add_argument("--no-dask", action="store_true")
    args = parser.parse_args()
    tools: list[tuple[str, dict[str, str], str | None]] = [
        ("bare", BARE, None),
        ("conducto_nb local", OURS, "local"),
    ]
    if not args.no_docker:
        tools.append(("conducto_nb docker", OURS, "docker"))
    if not args.no_dask:
        tools.append(("dask LocalCluster 2x1", DASK, None))
    results: dict[str, dict[str, list[float]]] = {name: {} for name, _, _ in tools}
    shell: list[float] = []
    for _ in range(args.rounds):  # the tools alternate: the machine's noise falls on all
        for name, codes, backend in tools:
            for w, code in codes.items():
                results[name].setdefault(w, []).append(once(code, backend))
        shell.append(once(BARE_SHELL))
    medians = {n: {w: statistics.median(v) for w, v in r.items()} for n, r in results.items()}
    bare = medians["bare"]
    print(f"median of {args.rounds} fresh processes each; ratio to bare in brackets")
    print(f"{'':24}{'W1 end to end':>22}{'W2 per node':>22}{'W3 per node':>22}")
    for name, row in medians.items():
        cells = [
            f"{row[w] * 1e3:9.{0 if w == 'W1' else 2}f} ms ({row[w] / bare[w]:5.2f}x)"
            for w in ("W1", "W2", "W3")
        ]
        print(f"{name:24}" + "".join(f"{c:>22}" for c in cells))
    sh, ours = statistics.median(shell), medians["conducto_nb local"]["W3"]
    print(
        f"W3's bare loop through `sh -c true`, as a shell node runs it: {sh * 1e3:.2f} ms per "
        f"node; conducto_nb local {ours / sh:.2f}x that"
    )


if __name__ == "__main__":
    main()
