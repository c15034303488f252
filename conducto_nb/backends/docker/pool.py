"""Worker pools of warm containers, one per (pipeline, resource signature).

A job takes an idle container of its pool, or waits while the pool grows. A pool grows while
more jobs wait than containers are starting, as far as the capacity allows: each container
holds its cpu and mem for its life, counted against the machine (the daemon's cores and memory)
or a configured budget; a container bigger than the whole budget runs alone. When a pool needs
room that idle containers of other pools hold, those are removed first; a container finishing
a job while another pool waits for room is removed instead of idling. Idle containers leave
after `idle_timeout` seconds. A new container is a spare when one of its kind was started
ahead for it (spares.py), else started then; once a released pipeline's containers are gone,
as many spares as each of its pools held start for the next pipeline (not before: a start
competes for the daemon and the cores with jobs still running and containers going).

A reuse group (a `ContainerReuseContext.NEW` subtree) is a pool of exactly one container that
runs the group's jobs in order and stays until its pipeline is released; it holds capacity
only while it runs a job, so an idle one never starves the rest of the pipeline.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Hashable

from ...errors import BackendError
from .capacity import Capacity, Spec
from .daemon import Daemon, DaemonGone, Launch
from .spares import Spares, kind_of
from .worker import Container

__all__ = ["Pool", "Pools"]


class Pool:
    """Warm containers of one signature for one pipeline (or one reuse group: `single`)."""

    def __init__(self, pools: Pools, key: Hashable, spec: Spec, launch: Launch, single: bool):
        self.pools, self.key, self.spec, self.launch = pools, key, spec, launch
        self.single = single
        self.containers: set[Container] = set()
        self.holding: set[Container] = set()  # those holding capacity
        self.idle: list[Container] = []  # most recently used last: it is taken first
        self.timers: dict[Container, asyncio.TimerHandle] = {}
        self.waiters: deque[asyncio.Future[Container]] = deque()
        self.starting = 0
        self.closed = False
        self.started: list[str] = []  # ids of every container it started, for tests and notes
        self.peak = 0  # the most containers it held at once: as many spares for the next
        self.calls = False  # it ran Python callables: its spares start their warm Python

    def waiting(self) -> int:
        return sum(1 for f in self.waiters if not f.done())

    def wanted(self) -> int:
        """Jobs waiting that no container being started will serve."""
        return self.waiting() - self.starting

    async def take(self) -> Container:
        """An idle container, or one handed over when free or started."""
        if self.closed:
            raise BackendError("the pipeline's containers were released")
        while self.idle and not self.single:
            container = self.idle.pop()
            self._untime(container)
            if container.alive:
                return container
        fut: asyncio.Future[Container] = asyncio.get_running_loop().create_future()
        self.waiters.append(fut)
        self.pools.grow(self)
        try:
            return await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                self.put(fut.result())  # handed over just now: pass it on
            else:
                with contextlib.suppress(ValueError):
                    self.waiters.remove(fut)
            raise

    def put(self, container: Container) -> None:
        """A job is done with `container`: hand it on, keep it warm, or remove it."""
        if not container.alive or self.closed or container not in self.containers:
            self.pools.retire(self, container)
            return
        if self.single:
            self._unhold(container)
            self.idle.append(container)
            self.pools.grow(self)
            self.pools.wake()
            return
        if self.pools.someone_starving(self) and (len(self.containers) > 1 or not self.waiting()):
            self.pools.retire(self, container)  # make room for a pool that has none
            return
        if self.hand(container):
            return
        self.idle.append(container)
        if self.pools.idle_timeout is not None:
            loop = asyncio.get_running_loop()
            timeout = self.pools.idle_timeout
            self.timers[container] = loop.call_later(timeout, self._expire, container)

    def hand(self, container: Container) -> bool:
        """Give `container` to the first live waiter; False if none waits."""
        while self.waiters:
            fut = self.waiters.popleft()
            if not fut.done():
                fut.set_result(container)
                return True
        return False

    def fail(self, error: BaseException, everyone: bool = False) -> None:
        """A container could not start: the next waiter learns why (all of them when nothing
        else could serve them)."""
        everyone = everyone or (not self.containers and not self.starting)
        while self.waiters:
            fut = self.waiters.popleft()
            if not fut.done():
                fut.set_exception(error)
                if not everyone:
                    return

    def _expire(self, container: Container) -> None:
        self.timers.pop(container, None)
        if container in self.idle:
            self.idle.remove(container)
            self.pools.retire(self, container)

    def _untime(self, container: Container) -> None:
        timer = self.timers.pop(container, None)
        if timer is not None:
            timer.cancel()

    def _unhold(self, container: Container) -> None:
        if container in self.holding:
            self.holding.discard(container)
            self.pools.capacity.give(self.spec)

    def forget(self, container: Container) -> bool:
        """`container` leaves the pool (idempotent); True the first time."""
        if container not in self.containers:
            return False
        self.containers.discard(container)
        self._untime(container)
        if container in self.idle:
            self.idle.remove(container)
        self._unhold(container)
        return True


class Pools:
    """Every pool of one backend, and the capacity they share."""

    def __init__(
        self,
        daemon: Daemon,
        capacity: Capacity,
        idle_timeout: float | None,
        spare_timeout: float | None = None,
    ) -> None:
        self.daemon, self.capacity, self.idle_timeout = daemon, capacity, idle_timeout
        self.spares = Spares(daemon, spare_timeout, self.busy)
        self.pools: dict[Hashable, Pool] = {}
        self.hungry: deque[Pool] = deque()
        self.tasks: set[asyncio.Task[None]] = set()
        self._waking = False
        self.stale: set[str] = set()  # containers to remove once the daemon answers again

    def get(self, key: Hashable, spec: Spec, launch: Launch, single: bool = False) -> Pool:
        pool = self.pools.get(key)
        if pool is None or pool.closed:
            pool = self.pools[key] = Pool(self, key, spec, launch, single)
        return pool

    def busy(self) -> bool:
        """Whether a container runs a job or starts."""
        return any(
            p.starting or any(c.current is not None for c in p.containers)
            for p in self.pools.values()
        )

    def someone_starving(self, other_than: Pool) -> bool:
        """Whether a pool waits for room and has no container at all (so every signature gets
        one as soon as one is free; beyond that, a pool's own jobs go first: no thrashing)."""
        return any(
            p is not other_than and p.wanted() > 0 and not p.containers and not p.starting
            for p in self.hungry
        )

    def grow(self, pool: Pool) -> None:
        """Start containers (or give capacity to an idle reuse container) while jobs wait."""
        if pool.closed:
            return
        while pool.single and pool.idle and pool.wanted() > 0:
            if not self._room(pool):
                return
            container = pool.idle.pop()
            self.capacity.take(pool.spec)
            pool.holding.add(container)
            if not pool.hand(container):  # cannot happen: wanted() > 0
                pool.put(container)
        while pool.wanted() > 0:
            if pool.single and (pool.containers or pool.starting):
                return
            if not self._room(pool):
                return
            self.capacity.take(pool.spec)
            pool.starting += 1
            self._spawn(self._start(pool))

    def _room(self, pool: Pool) -> bool:
        """Whether a container of `pool` fits now, removing idle ones of other pools if that
        makes room; if not, `pool` waits in line for room."""
        while not self.capacity.fits(pool.spec):
            victim = next(
                (p for p in self.pools.values() if p is not pool and p.idle and not p.single), None
            )
            if victim is None:
                if pool not in self.hungry:
                    self.hungry.append(pool)
                return False
            self.retire(victim, victim.idle[0], wake=False)  # the least recently used
        return True

    def wake(self) -> None:
        """Room was freed: pools waiting for it try again, in order."""
        if self._waking:
            return
        self._waking = True
        try:
            for pool in list(self.hungry):
                if pool in self.hungry:
                    self.hungry.remove(pool)
                self.grow(pool)
        finally:
            self._waking = False

    async def _start(self, pool: Pool) -> None:
        kind = kind_of(pool.launch)
        container = await self.spares.take(kind, lambda c: self._ended(pool, c))
        if container is None:
            container = await self._launch(pool)
            if container is None:
                return
        else:
            self._join(pool, container)
        pool.peak = max(pool.peak, len(pool.containers))
        if pool.single:
            if not pool.hand(container):
                pool.put(container)
        else:
            pool.put(container)

    async def _launch(self, pool: Pool) -> Container | None:
        """A new container for `pool`, connected; None (the pool told why) if it failed."""
        try:
            cid, sock = await self.daemon.launch(pool.launch)
        except Exception as e:
            pool.starting -= 1
            self.capacity.give(pool.spec)
            pool.fail(e)
            self.wake()
            return None
        for stale in list(self.stale):  # the daemon is back: what we lost track of goes
            self.stale.discard(stale)
            self._spawn(self._remove_id(stale))
        container = Container(self.daemon, cid, lambda c: self._ended(pool, c))
        self._join(pool, container)
        try:
            await container.connect(sock, pool.launch.setup)
        except Exception as e:
            sock.close()
            self.retire(pool, container)
            pool.fail(e)
            return None
        return container

    @staticmethod
    def _join(pool: Pool, container: Container) -> None:
        """`container`, started (or taken from the spares) for `pool`, is one of its own."""
        pool.starting -= 1
        pool.containers.add(container)
        pool.holding.add(container)
        pool.started.append(container.id)

    def _ended(self, pool: Pool, container: Container) -> None:
        self.retire(pool, container)  # it crashed or was removed: make sure it is gone

    def retire(self, pool: Pool, container: Container, wake: bool = True) -> None:
        """Remove `container` (in the background); its capacity is free at once."""
        if pool.forget(container):
            self._spawn(self._remove(container))
        if wake:
            self.wake()

    async def _remove(self, container: Container) -> None:
        container.detach()
        await self._remove_id(container.id)

    async def _remove_id(self, cid: str) -> None:
        try:
            await self.daemon.remove(cid)
        except DaemonGone:  # its job may still run in it: remove it once the daemon is back
            self.stale.add(cid)
        except Exception:
            pass

    def _spawn(self, coro: object) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)  # type: ignore[arg-type]
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def close(self, pipeline_id: str | None = None, why: str = "") -> None:
        """Remove the containers of one pipeline's pools (all pools: None) and wait until
        they are gone; jobs waiting for those pools fail."""
        why = why or "the pipeline's containers were released"
        if pipeline_id is None:
            self.spares.stop()  # first: none starts while the rest goes
        chosen = [
            p for k, p in self.pools.items() if pipeline_id is None or _pipeline(k) == pipeline_id
        ]
        for pool in chosen:
            pool.closed = True
            del self.pools[pool.key]
            with contextlib.suppress(ValueError):
                self.hungry.remove(pool)
            pool.fail(BackendError(why), everyone=True)
            for container in list(pool.containers):
                self.retire(pool, container)
        while self.tasks:  # starts under way end (and retire what they started) too
            await asyncio.gather(*list(self.tasks), return_exceptions=True)
        if pipeline_id is None:
            await self.spares.close()
        else:  # a pipeline like it may come next (its containers gone: no crowd)
            for pool in chosen:
                if pool.peak:
                    self.spares.want(kind_of(pool.launch), pool.launch, pool.peak, pool.calls)
        self.wake()


def _pipeline(key: Hashable) -> object:
    return key[0] if isinstance(key, tuple) and key else None
