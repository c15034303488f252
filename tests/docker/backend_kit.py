"""Helpers for the Docker backend's tests: Jobs, a sink that records what a job prints, and a
fresh event loop in a background thread per test body, as the runner calls a backend."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

from conducto_nb.backends.base import Job, Outcome
from conducto_nb.backends.docker import DockerBackend
from conducto_nb.execs import Command

BUSYBOX = "busybox:latest"
PYTHON = "python:3.11-slim"
PIPELINE = "test-pipe"


def in_thread(body: Callable[[], Coroutine[Any, Any, Any]], timeout: float = 60) -> Any:
    """Run `body()` on a new event loop in a non-main thread and return its result."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(body())
        except BaseException as e:
            box["error"] = e

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), "the test body hung"
    if "error" in box:
        raise box["error"]
    return box.get("value")


class Sink:
    """Collects what a job prints, when, and when it started."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str, float]] = []
        self.starts: list[float] = []

    def __call__(self, stream: str, text: str) -> None:
        self.items.append((stream, text, time.monotonic()))

    def started(self) -> None:
        self.starts.append(time.monotonic())

    def text(self, stream: str) -> str:
        return "".join(t for s, t, _ in self.items if s == stream)


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


@contextlib.asynccontextmanager
async def opened(**kw: Any) -> AsyncIterator[DockerBackend]:
    """A DockerBackend, open, closed (its containers removed) at the end."""
    backend = DockerBackend(**kw)
    await backend.open()
    try:
        yield backend
    finally:
        await backend.close()
