"""The webhook receiver under load: 20 senders on loopback post signed push deliveries for
10 s while 4 pipelines the receiver started run. Half go to the 4 busy branches (accepted,
then suppressed by `duplicate = SUPPRESS_NEW` in the background), half to branches no section
matches (202 no action). Prints deliveries answered per second, the p50 / p99 time to the
answer, and how long the background took to work through what was accepted.

Target (issue 20): p99 time to 202 under 50 ms.

    .venv/bin/python bench/webhook.py [--senders 20] [--seconds 10] [--busy 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp

SECRET = b"bench-secret"
CFG = """[push]
command = conducto-nb run pipeline.py:ci --backend local --branch={branch}
filter = {branch} == "busy-*"
"""
PIPELINE = """
import conducto_nb as co

def ci(branch: str) -> co.Serial:
    with co.Serial() as root:
        co.Exec("while [ ! -e STOP_FILE ]; do sleep 0.2; done", name="busy")
    return root
"""


def git(repo: Path, *args: str) -> str:
    out = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    out.check_returncode()
    return out.stdout.strip()


def make_repo(where: Path, stop: Path) -> str:
    where.mkdir()
    git(where, "init", "-q", "-b", "main")
    git(where, "config", "user.name", "Bench")
    git(where, "config", "user.email", "bench@example.com")
    (where / ".conducto.cfg").write_text(CFG)
    (where / "pipeline.py").write_text(PIPELINE.replace("STOP_FILE", str(stop)))
    git(where, "add", "-A")
    git(where, "commit", "-q", "-m", "bench")
    return git(where, "rev-parse", "HEAD")


def payload(branch: str, sha: str) -> bytes:
    head = {"id": sha, "author": {"name": "Bench", "username": "bench"}}
    return json.dumps(
        {
            "ref": f"refs/heads/{branch}",
            "before": "0" * 40,
            "after": sha,
            "created": False,
            "deleted": False,
            "head_commit": head,
            "pusher": {"name": "bench"},
            "repository": {"name": "bench", "full_name": "bench/bench"},
            "sender": {"login": "bench"},
        }
    ).encode()


async def post(session: aiohttp.ClientSession, url: str, body: bytes) -> tuple[int, str, float]:
    from conducto_nb.events.webhook.signature import sign

    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(SECRET, body),
    }
    started = time.perf_counter()
    async with session.post(url, data=body, headers=headers) as answer:
        got = await answer.json()
    return answer.status, got.get("status", ""), time.perf_counter() - started


async def load(
    url: str, sha: str, senders: int, seconds: float, busy: int
) -> list[tuple[int, str, float]]:
    results: list[tuple[int, str, float]] = []
    end = time.perf_counter() + seconds

    async def sender(n: int) -> None:
        async with aiohttp.ClientSession() as session:
            i = 0
            while time.perf_counter() < end:
                branch = f"busy-{(n + i) % busy}" if i % 2 == 0 else f"feature-{n}-{i}"
                results.append(await post(session, url, payload(branch, sha)))
                i += 1

    await asyncio.gather(*(sender(n) for n in range(senders)))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--senders", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--busy", type=int, default=4)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="conducto_nb-webhook-"))
    env = {**os.environ, "CONDUCTO_NB_HOME": str(tmp / "home")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    os.environ.update(CONDUCTO_NB_HOME=env["CONDUCTO_NB_HOME"])
    sha = make_repo(tmp / "repo", tmp / "stop")
    (tmp / "secret").write_bytes(SECRET)
    serve = [sys.executable, "-m", "conducto_nb.cli", "webhook", "serve", "--port", "0"]
    serve += ["--repo", str(tmp / "repo"), "--secret-file", str(tmp / "secret")]
    with open(tmp / "serve.log", "w") as log:  # a line per delivery: never a full pipe
        server = subprocess.Popen(serve, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while "receiving GitHub deliveries on" not in (tmp / "serve.log").read_text():
        if time.monotonic() > deadline or server.poll() is not None:
            raise SystemExit((tmp / "serve.log").read_text())
        time.sleep(0.05)
    url = (tmp / "serve.log").read_text().splitlines()[0].rsplit(" ", 1)[1].strip()
    from conducto_nb.store.pipelines import Store

    store = Store()
    try:

        async def start_busy() -> None:
            async with aiohttp.ClientSession() as session:
                for n in range(args.busy):
                    await post(session, url, payload(f"busy-{n}", sha))

        asyncio.run(start_busy())
        deadline = time.monotonic() + 300
        while len([p for p in store.list_pipelines() if p.state == "running"]) < args.busy:
            if time.monotonic() > deadline:
                raise SystemExit(f"the {args.busy} busy pipelines did not start: see {tmp}")
            time.sleep(0.1)
        print(f"{args.busy} pipelines running; {args.senders} senders for {args.seconds:g} s")
        results = asyncio.run(load(url, sha, args.senders, args.seconds, args.busy))
        answered = time.perf_counter()
        # the busy pipelines' own deliveries run until the end: wait for the others
        root = git(tmp / "repo", "rev-parse", "--show-toplevel")
        while (
            store.deliveries(1, state="accepted", repo=root)
            or len(store.deliveries(args.busy + 1, state="running", repo=root)) > args.busy
        ):
            time.sleep(0.1)
        drained = time.perf_counter() - answered
    finally:
        (tmp / "stop").touch()
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=120)
        store.close()
    times = sorted(t for _, _, t in results)
    statuses: dict[str, int] = {}
    for code, status, _ in results:
        key = f"{code} {status}"
        statuses[key] = statuses.get(key, 0) + 1
    p50, p99 = times[len(times) // 2], times[min(len(times) - 1, int(len(times) * 0.99))]
    print(f"answered: {len(results) / args.seconds:.0f} deliveries/s  {statuses}")
    print(f"time to answer: p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms (target p99 < 50 ms)")
    print(f"background: the accepted deliveries were all run {drained:.1f} s after the last answer")


if __name__ == "__main__":
    main()
