"""Spare containers: started ahead, never used, for the next pipeline of the same kind.

Starting a container costs a few hundred milliseconds of the daemon's time (`docker run` ~0.25 s
here, more while others start or go); a notebook runs pipeline after pipeline of the same
images, and each would pay it again, because a pipeline's containers go when it is released (a
container a pipeline used keeps its files, processes and caches: it is never given to another).
So half a second after a released pipeline's containers are gone (a script that ends with its
pipeline has exited by then, and starts none), the backend starts as many spares of each kind
as its pool held: the next pipeline's pool takes them (one still starting is waited for, not
started twice; one waiting out the delay starts at once). While other containers of the
backend run jobs, spares wait: they would slow those jobs down. A spare has run nothing: to the
pipeline that takes it, it is a fresh container that was simply started earlier. Only its
`conducto_nb.pipeline` label is empty, as labels cannot change after a container is created.

A spare of a kind whose last pool ran Python callables starts its warm Python too (the
first callable in a new container otherwise waits for Python's start-up and imports).

Spares hold no capacity (idle, they use none) and leave after `timeout` seconds unused, when
the backend closes, or with this process (their worker shell reads EOF).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections import deque
from collections.abc import Callable

from .args import PIPELINE_LABEL
from .daemon import Daemon, Launch
from .worker import Container

__all__ = ["MOST", "Spares", "kind_of"]

#: The most spares kept of one kind, however many containers its last pool held.
MOST = 4
#: Seconds from a released pipeline's containers being gone to its spares' start: a script that
#: ends with its pipeline exits first and starts none (its exit would wait for them to go).
DELAY = 0.5
#: While the backend's containers run jobs (or start), a spare waits, looking this often: a start
#: competes with them for the daemon and the cores.
BUSY_LOOK = 0.1
#: Starts the worker shell's warm Python (script.py) before any callable asks for it.
WARM_PYTHON = "__co_pystart\n"


def kind_of(launch: Launch) -> str:
    """What makes two containers interchangeable: everything of their launch but the
    pipeline's label."""
    labels = sorted((k, v) for k, v in launch.labels.items() if k != PIPELINE_LABEL)
    return repr((launch.image, labels, launch.create, launch.host, launch.setup))


class _Spare:
    """One spare: its container once started (None if it could not start)."""

    def __init__(self) -> None:
        self.ready: asyncio.Future[Container | None] = asyncio.get_running_loop().create_future()
        self.timer: asyncio.TimerHandle | None = None
        self.wanted = asyncio.Event()  # a pipeline took it: start now, not after DELAY
        self.begun = False  # its start was asked of the daemon
        self.task: asyncio.Task[None] | None = None


class Spares:
    """The spares of one backend, by kind."""

    def __init__(self, daemon: Daemon, timeout: float | None, busy: Callable[[], bool]) -> None:
        self.daemon, self.timeout, self.busy = daemon, timeout, busy
        self.kinds: dict[str, deque[_Spare]] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.closed = False
        self.started: list[str] = []  # ids of every spare it started, for tests and notes
        self.leaving: list[_Spare] = []  # begun when the backend closed: removed once started

    @property
    def enabled(self) -> bool:
        return bool(self.timeout) and not self.closed

    async def take(self, kind: str, on_end: Callable[[Container], None]) -> Container | None:
        """A spare of `kind` (a started one first, else one starting), now `on_end`'s; None
        when there is none or it did not survive."""
        spares = self.kinds.get(kind)
        while spares:
            ready = [s for s in spares if s.ready.done()]
            spare = ready[0] if ready else spares[0]
            spares.remove(spare)
            if spare.timer is not None:
                spare.timer.cancel()
            spare.wanted.set()
            try:
                container = await asyncio.shield(spare.ready)
            except asyncio.CancelledError:  # still starting: it stays a spare
                spares.appendleft(spare)
                raise
            if container is not None and container.alive:
                container.on_end = on_end
                return container
        return None

    def want(self, kind: str, launch: Launch, count: int, python: bool = False) -> None:
        """Have `count` spares of `kind` started or starting (at most MOST); with `python`
        (the last pool ran callables), each starts its warm Python too."""
        if not self.enabled:
            return
        spares = self.kinds.setdefault(kind, deque())
        unlabelled = dataclasses.replace(
            launch,
            labels={**launch.labels, PIPELINE_LABEL: ""},
            setup=launch.setup + (WARM_PYTHON if python else ""),
        )
        for _ in range(min(count, MOST) - len(spares)):
            spare = _Spare()
            spares.append(spare)
            task = asyncio.get_running_loop().create_task(self._start(kind, spare, unlabelled))
            spare.task = task
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _start(self, kind: str, spare: _Spare, launch: Launch) -> None:
        wait = DELAY  # (close cancels it while it waits)
        while not spare.wanted.is_set() and (wait == DELAY or self.busy()):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(spare.wanted.wait(), wait)
            wait = BUSY_LOOK
        if self.closed and not spare.wanted.is_set():
            spare.ready.set_result(None)
            return
        spare.begun = True
        container: Container | None = None
        try:
            cid, sock = await self.daemon.launch(launch)
            self.started.append(cid)
            container = Container(self.daemon, cid, lambda c: self._drop(kind, spare))
            try:
                await container.connect(sock, launch.setup)
            except Exception:
                sock.close()
                raise
        except Exception:  # no spare this time: the pool that wanted one starts its own
            if container is not None:
                await self._remove(container)
            container = None
            self._drop(kind, spare)
        spare.ready.set_result(container)
        if container is not None and self.closed:
            await self._remove(container)
        elif container is not None and self.timeout:
            loop = asyncio.get_running_loop()
            spare.timer = loop.call_later(self.timeout, self._expire, kind, spare)

    def _drop(self, kind: str, spare: _Spare) -> None:
        """`spare` is no more (it ended before anyone took it, or never started)."""
        spares = self.kinds.get(kind)
        if spares is not None and spare in spares:
            spares.remove(spare)
            if spare.timer is not None:
                spare.timer.cancel()

    def _expire(self, kind: str, spare: _Spare) -> None:
        spares = self.kinds.get(kind)
        if spares is not None and spare in spares:
            spares.remove(spare)
            task = asyncio.get_running_loop().create_task(self._remove_spare(spare))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _remove_spare(self, spare: _Spare) -> None:
        container = await asyncio.shield(spare.ready)
        if container is not None:
            await self._remove(container)

    async def _remove(self, container: Container) -> None:
        container.detach()
        with contextlib.suppress(Exception):
            await self.daemon.remove(container.id)

    def ids(self) -> list[str]:
        """The started spares' container ids."""
        return [
            c.id
            for spares in self.kinds.values()
            for s in spares
            if s.ready.done() and (c := s.ready.result()) is not None
        ]

    def stop(self) -> None:
        """Start no more spares: those not begun never will; begun ones wait for `close`."""
        self.closed = True
        for spares in self.kinds.values():
            for spare in spares:
                if spare.timer is not None:
                    spare.timer.cancel()
                if spare.begun:
                    self.leaving.append(spare)
                elif spare.task is not None:
                    spare.task.cancel()
        self.kinds.clear()

    async def close(self) -> None:
        """Remove every spare, those still starting once started; those not begun, never."""
        self.stop()
        leaving, self.leaving = self.leaving, []
        await asyncio.gather(*(self._remove_spare(s) for s in leaving), return_exceptions=True)
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)
