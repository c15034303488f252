"""The local backend, the embedded default where no Docker daemon answers (Binder, a laptop):
shell commands run as subprocesses (a command that needs no shell, such as `pytest tests`,
exec'd without one), Python callables in warm worker processes.

Every process runs in its own session, so a kill reaches everything it started: SIGTERM to the
whole process group, SIGKILL after `GRACE` seconds. When a command exits, what it left running
in its group is stopped the same way (as a container would stop it), so its pipes close and
the job ends. Processes are watched from the event loop itself (a pidfd per process, pipes read
with `add_reader`), not by asyncio's child watcher: no thread per job, the cost of a job is
about that of its fork and exec, and it works from any thread's loop.

This module is the backend and its shell jobs; process.py watches one process,
pool.py keeps the warm workers for callables, and code.py makes a co.Image's code and pip
packages (a job of such an image runs in its pipeline's copy of that code, its callables in
workers of their own that find the image's venv first).
"""

from __future__ import annotations

import asyncio
import math
import os
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from ...data import COMMANDS
from ...errors import PipelineError
from ...images.image import Image
from ...images.paths import expand_locally
from ...model.states import State
from ..base import Backend, Job, Outcome, OutputSink
from ..cpu_budget import CpuBudget
from ..simple_command import simple_words
from .code import build_locally, code_copy, is_complete, job_env, uses_code
from .lent import with_lent_package
from .pool import Pool
from .process import GRACE, Child, Streams, describe_exit

__all__ = ["GRACE", "LocalBackend"]


class LocalBackend(Backend):
    """Runs jobs as local processes within a budget of CPUs (default: all of them)."""

    name = "local"

    def __init__(self, cpu_budget: float | None = None) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._start_afresh(cpu_budget if cpu_budget is not None else os.cpu_count() or 1)

    def _start_afresh(self, cpu_budget: float) -> None:
        self._built: dict[Image, Path] = {}
        self.budget = CpuBudget(cpu_budget)
        self.pool = Pool(max(1, math.ceil(self.budget.total)))
        #: Callables of an image with pip packages: workers of their own that find the
        #: image's venv first (the same Python), so no package leaks between images.
        self._venv_pools: dict[Path, Pool] = {}
        self._children: set[Child] = set()

    def _pools(self) -> list[Pool]:
        return [self.pool, *self._venv_pools.values()]

    async def open(self) -> None:
        self._on_this_loop()
        for pool in self._pools():
            pool.closed = False

    def _on_this_loop(self) -> None:
        """Everything here is bound to one event loop. Should the caller move to a new one (the
        old one closed), start afresh instead of waiting on a loop that no longer runs."""
        loop = asyncio.get_running_loop()
        if loop is self._loop:
            return
        if self._loop is not None:
            for worker in [w for pool in self._pools() for w in pool.workers]:
                worker.orphan()
            for child in self._children:
                child.orphan()
            closed = self.pool.closed
            self._start_afresh(self.budget.total)
            self.pool.closed = closed
        self._loop = loop

    def honours(self, image: Any) -> bool:
        """A co.Image's code and pip packages are made here (code.py); nothing else of it."""
        return isinstance(image, Image) and uses_code(image)

    async def build_image(self, image: Image, log: Callable[[str], None]) -> str:
        loop = asyncio.get_running_loop()

        def log_here(line: str) -> None:
            loop.call_soon_threadsafe(log, line)

        built = await asyncio.to_thread(build_locally, image, log_here)
        self._built[image] = built
        return str(built)

    async def use_built(self, image: Image, tag: str) -> bool:
        built = Path(tag)
        if not is_complete(built):
            return False
        self._built[image] = built
        return True

    async def _in_image(self, job: Job) -> Job:
        """`job` in its pipeline's copy of its image's code, with the image's venv first on
        PATH; as it is where the image has neither."""
        if not self.honours(job.image):
            return job
        built = self._built.get(job.image)
        if built is None:  # a runner builds images first (showing the log); a direct caller
            built = Path(await self.build_image(job.image, lambda line: None))
        cwd = await asyncio.to_thread(code_copy, built, job.pipeline_id)
        return replace(job, cwd=cwd, env=job_env(built, job.env))

    async def run(self, job: Job, output: OutputSink, started: Callable[[], None]) -> Outcome:
        self._on_this_loop()
        try:
            job = await self._in_image(job)
        except PipelineError as e:
            return Outcome(State.ERROR, message=str(e))
        except OSError as e:
            return _cannot("copy the image's code", e)
        amount = await self.budget.acquire(job.cpu)
        try:
            if self.pool.closed:
                return Outcome(State.WORKER_ERROR, message="the local backend is closed")
            if job.command.is_call:
                return await self._run_call(job, output, started)
            return await self._run_shell(job, output, started)
        except Exception as e:
            message = f"the local backend failed: {type(e).__name__}: {e}"
            return Outcome(State.WORKER_ERROR, message=message)
        finally:
            self.budget.release(amount)

    async def _run_shell(
        self, job: Job, output: OutputSink, started: Callable[[], None]
    ) -> Outcome:
        assert job.command.shell is not None
        streams = Streams(output)
        try:
            env = _with_environ(job.env)
            with_lent_package(env)  # `python pipeline.py step` imports conducto_nb there too
            if b"CONDUCTO_DATA_URL" in env:  # the conducto-data-* commands
                path = env.get(b"PATH", os.defpath.encode())
                env[b"PATH"] = os.fsencode(f"{COMMANDS}{os.pathsep}") + path
                env.setdefault(b"CONDUCTO_DATA_PYTHON", os.fsencode(sys.executable))
            command = expand_locally(job.command.shell)  # co.relpath(...): the path itself
            try:
                child = _start_command(command, streams.feed, job.cwd, env)
            except FileNotFoundError as e:  # the work folder is made when first missing
                if not _names(e, job.cwd):
                    raise
                os.makedirs(job.cwd, exist_ok=True)
                child = _start_command(command, streams.feed, job.cwd, env)
        except OSError as e:
            return _cannot("start the command", e)
        self._children.add(child)
        try:
            started()
            await asyncio.shield(child.finished)
        except BaseException:
            await child.stop()
            raise
        finally:
            self._children.discard(child)
            streams.close()
        if streams.error is not None:
            return Outcome(State.WORKER_ERROR, message=f"the output sink failed: {streams.error!r}")
        code = child.returncode
        if code == 0:
            return Outcome(State.DONE, 0)
        if code is None:
            return Outcome(State.WORKER_ERROR, message=f"the command {describe_exit(code)}")
        message = f"the command {describe_exit(code)}" if code < 0 else None
        return Outcome(State.ERROR, code, message)

    async def _run_call(self, job: Job, output: OutputSink, started: Callable[[], None]) -> Outcome:
        try:
            payload = job.command.pickled()
        except Exception as e:  # pickling raises many kinds
            return _cannot("pickle the callable", e)
        pool = self._pool_for(job)
        try:
            worker = await pool.take()
        except OSError as e:
            return Outcome(State.WORKER_ERROR, message=f"cannot start a worker process: {e}")
        try:
            started()
            outcome = await worker.run(job, payload, output)
        except BaseException:
            await worker.stop()
            raise
        pool.give_back(worker)
        return outcome

    def _pool_for(self, job: Job) -> Pool:
        """The pool whose workers see the job's venv (code.py's `job_env` names it), if any."""
        venv = job.env.get("VIRTUAL_ENV")
        if not venv:
            return self.pool
        key = Path(venv)
        if key not in self._venv_pools:
            found = sorted(str(p) for p in key.glob("lib/python*/site-packages"))
            self._venv_pools[key] = Pool(self.pool.size, tuple(found))
            self._venv_pools[key].closed = self.pool.closed
        return self._venv_pools[key]

    async def close(self) -> None:
        """Kill every job and worker (SIGTERM, then SIGKILL) and wait until they are gone."""
        self._on_this_loop()
        pools = self._pools()
        for pool in pools:
            pool.closed = True
        children = [*self._children, *(w.child for pool in pools for w in pool.workers)]
        for child in children:
            child.terminate()
        if children:
            await asyncio.gather(*(asyncio.shield(c.finished) for c in children))


def _start_command(
    command: str, sink: Callable[[str, bytes], None], cwd: Path, env: dict[bytes, bytes]
) -> Child:
    """`command` running in `cwd`: its words exec'd directly where the shell would only have
    run them (simple_command.py), else through `/bin/sh -c`. A program the words cannot
    start (not on PATH, not executable, a script without `#!`) is left to the shell, whose
    message and exit code (127, 126) the user knows; the environment is the shell's (it
    sets PWD)."""
    words = simple_words(command)
    if words is not None:
        direct = dict(env)
        if b"PATH" in direct:  # where PATH is unset, the shell's default is not Python's
            direct[b"PWD"] = os.fsencode(os.path.realpath(cwd))
            try:
                return Child(words, sink, cwd=cwd, env=direct)
            except OSError as e:
                if isinstance(e, FileNotFoundError) and _names(e, cwd):
                    raise
    return Child(["/bin/sh", "-c", command], sink, cwd=cwd, env=env)


def _names(error: OSError, path: Path) -> bool:
    return error.filename is not None and os.fspath(error.filename) == os.fspath(path)


def _cannot(what: str, error: Exception) -> Outcome:
    """A job that could not start: an ERROR saying why (the runner adds the reason to the
    node's stderr, as for every outcome with a message)."""
    return Outcome(State.ERROR, message=f"cannot {what}: {type(error).__name__}: {error}")


_environ: dict[bytes, bytes] = {}


def _with_environ(env: dict[str, str]) -> dict[bytes, bytes]:
    """This process's environment with `env` over it, as bytes: os.environ is copied again
    only when it changed (decoding and re-encoding it cost ~0.1 ms per shell node)."""
    global _environ
    data = getattr(os.environ, "_data", None)  # CPython's: its bytes, as the OS has them
    if not isinstance(data, dict):
        data = {os.fsencode(k): os.fsencode(v) for k, v in os.environ.items()}
    if data != _environ:
        _environ = dict(data)
    merged = dict(_environ)
    merged.update((os.fsencode(k), os.fsencode(v)) for k, v in env.items())
    return merged
