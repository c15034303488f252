"""Helpers for the Docker backend's tests: Jobs, a sink that records what a job prints, and a
fresh event loop in a background thread per test body, as the runner calls a backend."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

from conducto_nb.backends.base import Job, Outcome
from conducto_nb.backends.docker.backend import DockerBackend
from conducto_nb.model.execs import Command
from tests.async_kit import Sink
from tests.async_kit import in_thread as _in_thread

#: A SIGKILL grace no kill reaches by chance: a kill that ends before it took only SIGTERM.
LONG_GRACE = 60.0

BUSYBOX = "busybox:latest"
PYTHON = "python:3.11-slim"
PIPELINE = "test-pipe"


def in_thread(body: Callable[[], Coroutine[Any, Any, Any]], timeout: float = 180) -> Any:
    """`tests.async_kit.in_thread`, with the longer wait container starts need."""
    return _in_thread(body, timeout)


def shell(cmd: str, *, image: str = BUSYBOX, path: str = "/sh", **kw: Any) -> Job:
    env = kw.pop("env", {})
    pipeline = kw.pop("pipeline", PIPELINE)
    return Job(pipeline, path, 0, Command.of_shell(cmd), env, Path("."), image=image, **kw)


def call(func: Callable[..., Any], *args: Any, image: str = PYTHON, **kw: Any) -> Job:
    params = {k: kw.pop(k) for k in ("env", "generates", "path", "mem") if k in kw}
    command = Command.of_call(func, args, kw)
    return Job(
        PIPELINE,
        params.get("path", "/call"),
        0,
        command,
        params.get("env", {}),
        Path("."),
        image=image,
        generates=params.get("generates", False),
        mem=params.get("mem", 2),
    )


async def run(backend: DockerBackend, job: Job) -> tuple[Outcome, Sink]:
    sink = Sink()
    outcome = await backend.run(job, sink, sink.started)
    return outcome, sink


async def printed(sink: Sink, text: str, stream: str = "stdout") -> None:
    """Until the job printed `text`: a started container, however long a busy machine takes
    (the test's own timeout bounds the wait)."""
    while text not in sink.text(stream):
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def opened(**kw: Any) -> AsyncIterator[DockerBackend]:
    """A DockerBackend, open, closed (its containers removed) at the end."""
    backend = DockerBackend(**kw)
    await backend.open()
    try:
        yield backend
    finally:
        await backend.close()


def sent_signals(backend: DockerBackend) -> list[str]:
    """From now on, the signals the backend's kill sweeps send (TERM, then KILL after the
    grace if the job did not end): which one ended a job, whatever the time it took."""
    daemon = backend.daemon
    sent: list[str] | None = getattr(daemon, "test_sent_signals", None)
    if sent is not None:  # already watched: count from now on
        sent.clear()
        return sent
    sent = daemon.test_sent_signals = []
    exec_ = daemon.exec

    async def spy(cid: str, argv: list[str]) -> bytes:
        if argv[:2] == ["sh", "-c"] and "/proc/[0-9]*" in argv[2]:
            sent.append("KILL" if "kill -KILL" in argv[2] else "TERM")
        return await exec_(cid, argv)

    daemon.exec = spy  # type: ignore[method-assign]
    return sent
