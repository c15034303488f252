"""co.data with a large object: one node stores N MB, the next reads them back and checks
their sha256, through the owner's data service. Prints the time and the peak memory
of each part: the owner process (the service), the client processes (the heaviest job's
process tree, from the kernel's accounting of waited-for children), and, on Docker, whether the
containers stayed within a `mem` limit (the kernel kills one that does not).

Target (issue 17): a 1 GB object round-trips with the service, the client and the container
each under 200 MB.

    .venv/bin/python bench/data_roundtrip.py [--mb 1024] [--backend local|docker]
                                             [--mem 0.2] [--image python:3.11-slim]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=1024)
    parser.add_argument("--backend", default="local")
    parser.add_argument("--mem", type=float, default=0.2, help="GB per container (Docker)")
    parser.add_argument("--image", default="python:3.11-slim")
    args = parser.parse_args()
    os.environ.setdefault("CONDUCTO_NB_HOME", tempfile.mkdtemp(prefix="conducto_nb-data-"))

    import conducto_nb as co

    size = args.mb * 2**20  # zeros: a stream both ends can make, checked by its sha256
    put = f"head -c {size} /dev/zero | conducto-data-pipeline puts --name big"
    get = "conducto-data-pipeline gets --name big | sha256sum | cut -c1-64"
    params = {"mem": args.mem, "image": args.image} if args.backend == "docker" else {}
    with co.Serial(**params) as root:
        co.Exec(put, name="put")
        co.Exec(get, name="get")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    run = root.run(backend=args.backend)
    took = time.perf_counter() - started

    want = hashlib.sha256()
    zeros = bytes(2**20)
    for _ in range(args.mb):
        want.update(zeros)
    got = run["/get"].stdout.strip()
    owner = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"{args.mb} MB on the {args.backend} backend: {run.state.value} in {took:.1f} s")
    print(f"  round trip intact: {got == want.hexdigest()}")
    print(f"  owner (service) peak RSS: {owner:.0f} MB (before the run: {before:.0f} MB)")
    if args.backend == "local":
        print(f"  heaviest client process peak RSS: {children:.0f} MB")
    else:
        states = {p: run[p].state.value for p in ("/put", "/get")}
        print(f"  containers limited to {args.mem} GB: {states} (an overrun is killed: error)")


if __name__ == "__main__":
    main()
