"""Spare containers with a real daemon: started as a pipeline is released, taken fresh by the
next pipeline of the same kind, gone after their timeout, with the backend, or when dead."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from typing import Any

import cloudpickle
from backend_kit import call, in_thread, opened, printed, run, shell

from conducto_nb.backends.docker.args import BACKEND_LABEL
from conducto_nb.backends.docker.backend import DockerBackend
from conducto_nb.backends.docker.spares import DELAY
from conducto_nb.model.states import State
from tests.async_kit import Sink
from tests.wait_kit import until

# The callables run in containers, which cannot import this module: send them by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def ours(docker_client: Any, backend: DockerBackend) -> list[str]:
    """The backend's containers as `docker ps -a --filter label=...` lists them."""
    found = docker_client.containers.list(
        all=True, sparse=True, filters={"label": f"{BACKEND_LABEL}={backend.id}"}
    )
    return [c.id for c in found]


def spares_of(backend: DockerBackend) -> Any:
    assert backend.pools is not None
    return backend.pools.spares


async def spare_after_a_run(
    backend: DockerBackend, pipeline: str = "test-pipe", ready: bool = True
) -> str:
    """Run a node of `pipeline`, release it, and wait until the one spare it leaves started
    (and, if `ready`, is connected: a spare waiting for a pipeline)."""
    await run(backend, shell("true", pipeline=pipeline))
    await backend.release(pipeline)
    await until(lambda: len(spares_of(backend).started) == 1, what="a spare started")
    if ready:
        await until(lambda: len(backend.spares()) == 1, what="the spare ready")
    return str(spares_of(backend).started[0])


def test_the_next_pipeline_takes_a_fresh_spare_started_when_the_last_was_released() -> None:
    async def body() -> None:
        async with opened(cpu_budget=2) as backend:
            mark = "echo dirty > /tmp/mark; sleep 30 & hostname"
            first, first_sink = await run(backend, shell(mark, pipeline="spare-a"))
            assert first.state == State.DONE
            await backend.release("spare-a")
            spares = spares_of(backend)
            assert [len(k) for k in spares.kinds.values()] == [1]  # as many as spare-a's pool held
            probe = "cat /tmp/mark 2>/dev/null || echo fresh; ps -o comm | grep -c sleep; hostname"
            second, sink = await run(backend, shell(probe, pipeline="spare-b"))
            assert second.state == State.DONE
            assert backend.pools is not None
            (pool,) = [p for k, p in backend.pools.pools.items() if k[0] == "spare-b"]  # type: ignore[index]
            (spare,) = spares.started
            assert pool.started == [spare]  # taken (waited for if starting), not started anew...
            fresh, sleeping, host = sink.text("stdout").split()
            # ...and it ran nothing of spare-a's: no file, no process left behind
            assert (fresh, sleeping) == ("fresh", "0")
            assert host == spare[:12] != first_sink.text("stdout").strip()
            assert backend.spares() == []  # the next spare starts as spare-b is released
            await backend.release("spare-b")
            await until(lambda: len(backend.spares()) == 1, what="a spare for the next one")

    in_thread(body)


def test_spares_leave_after_their_timeout(docker_client: Any) -> None:
    async def body() -> None:
        async with opened(spare_timeout=0.3) as backend:
            spare = await spare_after_a_run(backend, ready=False)  # (it may be gone already)
            await until(lambda: spare not in ours(docker_client, backend), what="the spare removed")
            assert backend.spares() == []

    in_thread(body)


def test_closing_the_backend_removes_its_spares(docker_client: Any) -> None:
    async def body() -> DockerBackend:
        async with opened(cpu_budget=2) as backend:
            spare = await spare_after_a_run(backend)
            assert backend.spares() == [spare]
        return backend

    backend = in_thread(body)
    assert ours(docker_client, backend) == []


def test_no_spares_when_their_timeout_is_zero(docker_client: Any) -> None:
    async def body() -> None:
        async with opened(spare_timeout=0) as backend:
            await run(backend, shell("true", pipeline="spare-a"))
            await backend.release("spare-a")
            assert spares_of(backend).started == [] and ours(docker_client, backend) == []
            out, _ = await run(backend, shell("true", pipeline="spare-b"))
            assert out.state == State.DONE and len(backend.containers("spare-b")) == 1

    in_thread(body)


def test_a_spare_that_died_is_replaced_by_a_new_container(docker_client: Any) -> None:
    async def body() -> None:
        async with opened() as backend:
            spare = await spare_after_a_run(backend, "spare-a")
            docker_client.api.kill(spare)
            await until(lambda: backend.spares() == [], what="the dead spare dropped")
            out, sink = await run(backend, shell("hostname", pipeline="spare-b"))
            assert out.state == State.DONE and sink.text("stdout").strip() != spare[:12]

    in_thread(body)


def forked_from() -> str:
    """The command line of the process that forked this callable's."""
    import os

    with open(f"/proc/{os.getppid()}/cmdline") as f:
        return f.read().replace("\0", " ")


def test_a_spare_for_callables_has_its_warm_python_started(docker_client: Any) -> None:
    """The last pipeline ran Python callables in that image: its spare starts the warm Python
    before any job asks, and the next pipeline's first callable is forked from it."""

    async def body() -> None:
        async with opened() as backend:
            first, _ = await run(backend, call(forked_from, path="/a"))
            assert first.state == State.DONE
            await backend.release("test-pipe")
            await until(lambda: len(backend.spares()) == 1, what="a spare started")
            (spare,) = backend.spares()

            def servers() -> list[str]:
                """The warm Pythons (not the children they forked ahead)."""
                top = docker_client.api.top(spare, ps_args="-eo pid,ppid,args")["Processes"]
                pythons = {pid: ppid for pid, ppid, args in top if "--serve" in args}
                return [pid for pid, ppid in pythons.items() if ppid not in pythons]

            await until(servers, what="the spare's warm Python started before any job")
            before = servers()
            second, _ = await run(backend, call(forked_from, path="/b"))
            assert second.state == State.DONE and backend.containers("test-pipe") == [spare]
            assert "--serve" in second.result and servers() == before

    in_thread(body)


def test_a_backend_closed_right_after_a_release_starts_no_spare(docker_client: Any) -> None:
    """As a script ends with its pipeline: its exit does not wait for spares to start and go."""

    async def body() -> DockerBackend:
        async with opened() as backend:
            await run(backend, shell("true"))
            await backend.release("test-pipe")
        assert spares_of(backend).started == []
        return backend

    backend = in_thread(body)
    assert ours(docker_client, backend) == []


def test_spares_wait_while_other_containers_run_jobs() -> None:
    """A start competes with running jobs for the daemon and the cores: spares wait for the
    backend's containers to be idle."""

    async def body() -> None:
        async with opened(cpu_budget=4) as backend:
            await run(backend, shell("true", pipeline="spare-a"))
            busy = Sink()
            job = shell("echo started; sleep 60", pipeline="spare-b", cpu=0.5)  # another kind
            long = asyncio.create_task(backend.run(job, busy, busy.started))
            await printed(busy, "started")
            await backend.release("spare-a")
            await asyncio.sleep(3 * DELAY)  # however long: none starts while a job runs
            assert spares_of(backend).started == []
            long.cancel()  # the job is killed: the backend is idle
            with contextlib.suppress(asyncio.CancelledError):
                await long
            await until(lambda: len(spares_of(backend).started) == 1, what="the spare started")

    in_thread(body)
