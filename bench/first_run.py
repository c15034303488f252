"""What a notebook's first cell pays: `import conducto_nb`, then a pipeline of two no-op
Python callables run twice, in a fresh process, beside a bare ProcessPoolExecutor(2) doing the
same two calls twice (its pool started by the first).

The first run includes what only the first pays (the run machinery's imports, the store, the
worker processes' start); the second is what every later cell pays. Medians of --rounds fresh
processes, each with a store of its own.

    .venv/bin/python bench/first_run.py [--rounds 9]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

OURS = """
import json, time
t0 = time.perf_counter()
import conducto_nb as co
t1 = time.perf_counter()
def noop():
    return None
def tree():
    with co.Parallel(max_concurrent=2) as root:
        co.Exec(noop, name="a"), co.Exec(noop, name="b")
    return root
times = [t1 - t0]
for _ in range(2):
    s = time.perf_counter()
    assert tree().run(backend="local").state is co.State.DONE
    times.append(time.perf_counter() - s)
print(json.dumps(times))
"""

BARE = """
import json, time
t0 = time.perf_counter()
from concurrent.futures import ProcessPoolExecutor
t1 = time.perf_counter()
def noop(i):
    return None
if __name__ == "__main__":
    times = [t1 - t0]
    with ProcessPoolExecutor(2) as pool:
        for _ in range(2):
            s = time.perf_counter()
            list(pool.map(noop, range(2)))
            times.append(time.perf_counter() - s)
    print(json.dumps(times))
"""


def once(code: str) -> list[float]:
    env = {**os.environ, "CONDUCTO_NB_HOME": tempfile.mkdtemp(prefix="conducto_nb-first-")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # byte code cached, as on a user's machine
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(code)
    try:
        out = subprocess.run([sys.executable, f.name], capture_output=True, text=True, env=env)
    finally:
        os.unlink(f.name)
    if out.returncode != 0:
        raise SystemExit(f"bench failed:\n{out.stderr[-2000:]}")
    times: list[float] = json.loads(out.stdout.strip().splitlines()[-1])
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    results: dict[str, list[list[float]]] = {"bare": [], "conducto_nb": []}
    for _ in range(args.rounds):  # in turn: the machine's noise falls on both
        results["bare"].append(once(BARE))
        results["conducto_nb"].append(once(OURS))
    print(f"median of {args.rounds} fresh processes, ms: import, first run, second run")
    for name, rows in results.items():
        import_s, first, second = (statistics.median(r[i] for r in rows) for i in range(3))
        print(f"  {name:12}{import_s * 1e3:8.0f}{first * 1e3:8.0f}{second * 1e3:8.1f}")


if __name__ == "__main__":
    main()
