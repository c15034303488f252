"""Worker pools with a real daemon: growth within the budget, room made by removing idle
containers, idle timeouts, reuse groups, release, and a pipeline run through the runner."""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

import cloudpickle
from backend_kit import PIPELINE, in_thread, opened, run, shell

import conducto_nb as co
from conducto_nb.backends.docker.backend import DockerBackend
from conducto_nb.model.states import State
from conducto_nb.run import launch
from conducto_nb.run.loop import background_loop
from tests.wait_kit import until

# `grow` runs in a container, which cannot import this module: send it by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def labelled(docker_client: Any, pipeline: str) -> list[str]:
    found = docker_client.containers.list(  # sparse: no inspect of others' containers
        all=True, sparse=True, filters={"label": f"conducto_nb.pipeline={pipeline}"}
    )
    return [c.id for c in found]


def test_a_pool_grows_concurrently_up_to_the_budget() -> None:
    async def body() -> None:
        async with opened(cpu_budget=4) as backend:
            t0 = time.monotonic()
            jobs = [asyncio.create_task(run(backend, shell("sleep 1; hostname"))) for _ in range(8)]
            counts = []
            while not all(job.done() for job in jobs):
                counts.append(len(backend.containers()))
                await asyncio.sleep(0.05)
            results = await asyncio.gather(*jobs)
            starts = sorted(sink.starts[0] - t0 for _, sink in results)
            assert all(out.state == State.DONE for out, _ in results)
            assert max(counts) == 4  # as many as the budget holds, started together...
            # Started together: within about one container's start-up of each other, not one
            # after another (a loaded machine takes a second to start one).
            assert starts[3] - starts[0] < max(0.5, starts[0]), starts
            # ...and the next four ran in the same warm containers: four hostnames in all.
            assert len({sink.text("stdout") for _, sink in results}) == 4

    in_thread(body)


def test_many_quick_jobs_start_no_more_containers_than_the_cores() -> None:
    async def body() -> None:
        async with opened(cpu_budget=2) as backend:
            results = await asyncio.gather(
                *(run(backend, shell("sleep 0.02; hostname")) for _ in range(200))
            )
            assert all(out.state == State.DONE for out, _ in results)
            assert len({sink.text("stdout") for _, sink in results}) <= 2
            (pool,) = backend.pools.pools.values()  # type: ignore[union-attr]
            assert len(pool.started) == 2

    in_thread(body)


def test_a_pool_that_needs_room_gets_it_from_idle_containers_of_others() -> None:
    async def body() -> None:
        async with opened(cpu_budget=1) as backend:
            _, first = await run(backend, shell("hostname"))
            (before,) = backend.containers()
            _, second = await run(backend, shell("hostname", cpu=0.9))  # another signature
            (after,) = backend.containers()
            assert before != after and first.text("stdout") != second.text("stdout")

    in_thread(body)


def test_idle_containers_leave_after_the_idle_timeout(docker_client: Any) -> None:
    async def body() -> None:
        async with opened(idle_timeout=0.3) as backend:
            await run(backend, shell("true"))
            (cid,) = backend.containers()
            await until(lambda: backend.containers() == [], what="the idle container left")
            await until(
                lambda: cid not in labelled(docker_client, PIPELINE),
                what="the idle container was removed",
            )

    in_thread(body)


def test_a_reuse_group_runs_in_one_container_in_order_until_released(docker_client: Any) -> None:
    async def body() -> None:
        async with opened(cpu_budget=2) as backend:
            group = [
                dataclasses.replace(shell(f"echo {i} >> /tmp/log; cat /tmp/log"), reuse_group="g")
                for i in range(4)
            ]
            first = await run(backend, group[0])
            rest = await asyncio.gather(*(run(backend, job) for job in group[1:]))
            outs = [sink.text("stdout") for _, sink in [first, *rest]]
            assert outs[-1] == "0\n1\n2\n3\n"  # one container, state kept, in order
            _, plain = await run(backend, shell("cat /tmp/log 2>/dev/null || echo fresh"))
            assert plain.text("stdout") == "fresh\n"  # other nodes do not share it
            assert len(backend.containers()) == 2
            await asyncio.sleep(0.1)
            ours = backend.containers()
            assert len(ours) == 2  # an idle group container stays...
            await backend.release(PIPELINE)
            assert backend.containers() == []  # ...until its pipeline is released
            # (tests running beside this one have containers of the same pipeline id)
            assert set(labelled(docker_client, PIPELINE)).isdisjoint(ours)

    in_thread(body)


def test_release_removes_only_that_pipelines_containers(docker_client: Any) -> None:
    async def body() -> None:
        async with opened() as backend:
            await run(backend, shell("true", pipeline="pipe-a"))
            await run(backend, shell("true", pipeline="pipe-b"))
            assert len(labelled(docker_client, "pipe-a")) == 1
            await backend.release("pipe-a")
            assert labelled(docker_client, "pipe-a") == []
            assert len(labelled(docker_client, "pipe-b")) == 1
        assert labelled(docker_client, "pipe-b") == []  # close removed the rest

    in_thread(body)


def test_a_pipeline_runs_through_the_runner_in_warm_containers(tmp_path: Path) -> None:
    backend = DockerBackend(cpu_budget=2)
    with co.Parallel(image="busybox:latest") as root:
        for i in range(12):
            co.Exec(f"echo {i} $(hostname)", name=f"n{i}")
    try:
        result = launch.run(root, backend=backend, workdir=tmp_path, persist=False)
        assert result.state == State.DONE
        hosts = {result[f"/n{i}"].stdout.split()[1] for i in range(12)}
        assert 1 <= len(hosts) <= 2
    finally:
        background_loop().submit(backend.close()).result()


def grow(n: int) -> co.Serial:
    with co.Serial(name="grown") as made:
        for i in range(n):
            co.Exec(f"echo {i}", name=f"e{i}")
    return made


def test_a_lazy_node_generates_its_tree_in_a_container(tmp_path: Path) -> None:
    backend = DockerBackend(cpu_budget=2)
    with co.Serial(image="python:3.11-slim") as root:
        co.Lazy(grow, 3, name="lazy")
    try:
        result = launch.run(root, backend=backend, workdir=tmp_path, persist=False)
        assert result.state == State.DONE, result["/lazy/Generate"].stderr
        outputs = {
            path.rsplit("/", 1)[1]: result[path].stdout
            for path in result.record.statuses()
            if path.startswith("/lazy/Execute/") and "/e" in path
        }
        assert outputs == {"e0": "0\n", "e1": "1\n", "e2": "2\n"}
    finally:
        background_loop().submit(backend.close()).result()
