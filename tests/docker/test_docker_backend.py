"""The Docker backend with a real daemon and real containers: output, exit codes, env, warm
reuse, kills, max_time, OOM, callables. Pools, growth and faults: test_docker_pools.py and
test_docker_faults.py.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

import cloudpickle
import pytest
from backend_kit import (
    BUSYBOX,
    LONG_GRACE,
    PYTHON,
    call,
    in_thread,
    opened,
    printed,
    run,
    sent_signals,
    shell,
)

from conducto_nb import Exec, Serial
from conducto_nb.backends.docker import worker
from conducto_nb.model.states import State
from tests.async_kit import Sink

# This module's functions run in containers, which cannot import it: send them by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def test_output_streams_in_order_and_exit_codes_count() -> None:
    async def body() -> None:
        async with opened() as backend:
            cmd = "echo one; echo warn >&2; sleep 0.3; printf 'two\\nthree'; exit 3"
            out, sink = await run(backend, shell(cmd))
            assert (out.state, out.exit_code) == (State.ERROR, 3)
            assert sink.text("stdout") == "one\ntwo\nthree"
            assert sink.text("stderr") == "warn\n"
            first = next(t for s, text, t in sink.items if "one" in text)
            last = next(t for s, text, t in sink.items if "three" in text)
            assert last - first > 0.25  # streamed as printed, not at the end
            assert len(sink.starts) == 1
            out, sink = await run(backend, shell("head -c 300000 /dev/zero | tr '\\0' z"))
            assert out.state == State.DONE and sink.text("stdout") == "z" * 300_000

    in_thread(body)


def test_env_is_per_node_in_one_warm_container() -> None:
    async def body() -> None:
        async with opened() as backend:
            show = 'echo $(hostname) ${ONLY_A:-unset} "$SHARED"'
            a, sink_a = await run(backend, shell(show, env={"ONLY_A": "a", "SHARED": "it's 'a'"}))
            b, sink_b = await run(backend, shell(show, env={"SHARED": "b $HOME"}))
            assert a.state == b.state == State.DONE
            host_a, only_a, shared_a = sink_a.text("stdout").split(" ", 2)
            host_b, only_b, shared_b = sink_b.text("stdout").split(" ", 2)
            assert host_a == host_b  # the same warm container...
            assert (only_a, shared_a) == ("a", "it's 'a'\n")
            assert (only_b, shared_b) == ("unset", "b $HOME\n")  # ...yet each node its own env

    in_thread(body)


def test_a_simple_command_gives_what_the_shell_gives() -> None:
    """A command that needs no shell (simple_command.py) runs without one in the container:
    the same output, exit code, message and environment (but SHLVL, which only shells
    count) as through `sh -c`."""

    def env(text: str) -> dict[str, str]:
        found = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
        return {k: v for k, v in found.items() if k not in ("SHLVL", "CONDUCTO_NB_NODE")}

    async def body() -> None:
        async with opened() as backend:
            for plain in (
                "ls -d /etc /no/such",
                "no-such-program-4711 x",
                "/etc/passwd",
                "__co_oom",
            ):  # the last, the worker shell's own function: not here
                by_shell = f"sh -c '{plain}'"
                ours, sink = await run(backend, shell(plain))
                theirs, their_sink = await run(backend, shell(by_shell))
                assert ours.exit_code == theirs.exit_code, plain
                assert sink.text("stdout") == their_sink.text("stdout")
                assert sink.text("stderr") == their_sink.text("stderr")
            _, sink = await run(backend, shell("env", env={"OWN": "x"}))
            _, their_sink = await run(backend, shell("sh -c env", env={"OWN": "x"}))
            assert env(sink.text("stdout")) == env(their_sink.text("stdout"))
            assert env(sink.text("stdout"))["OWN"] == "x"

    in_thread(body)


def test_a_warm_container_is_reused_and_pools_differ_by_signature(docker_client: Any) -> None:
    async def body() -> None:
        async with opened() as backend:
            hosts = []
            for _ in range(3):
                _, sink = await run(backend, shell("hostname"))
                hosts.append(sink.text("stdout"))
            assert len(set(hosts)) == 1
            (cid,) = backend.containers()
            assert hosts[0].strip() == cid[:12]
            labels = docker_client.containers.get(cid).labels
            assert labels["conducto_nb.pipeline"] == "test-pipe"
            assert labels["conducto_nb.owner_pid"] == str(os.getpid())
            assert len(labels["conducto_nb.pool"]) == 12
            _, other = await run(backend, shell("hostname", cpu=0.5))
            _, third = await run(backend, shell("hostname", image=PYTHON))
            assert len({hosts[0], other.text("stdout"), third.text("stdout")}) == 3
            inspected = docker_client.containers.get(other.text("stdout").strip()).attrs
            assert inspected["HostConfig"]["NanoCpus"] == 500_000_000
            assert inspected["HostConfig"]["Memory"] == 2 * 2**30

    in_thread(body)


def test_kill_stops_only_that_node_and_the_container_takes_the_next(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(worker, "GRACE", LONG_GRACE)  # so a kill that needed SIGKILL shows

    async def body() -> None:
        async with opened(cpu_budget=2) as backend:
            sent = sent_signals(backend)
            victim_sink = Sink()
            victim_job = shell("echo started; sleep 60 & sleep 60", path="/victim")
            victim = asyncio.create_task(backend.run(victim_job, victim_sink, victim_sink.started))
            other_sink = Sink()
            other_job = shell("echo started; sleep 1.5; echo survived")
            other = asyncio.create_task(backend.run(other_job, other_sink, other_sink.started))
            await printed(victim_sink, "started")  # both jobs running: kill one of them
            await printed(other_sink, "started")
            victim.cancel()
            with pytest.raises(asyncio.CancelledError):
                await victim
            assert sent == ["TERM"]  # SIGTERM to the group was enough
            out = await other
            assert out.state == State.DONE and other_sink.text("stdout") == "started\nsurvived\n"
            ps = "ps -o pid,comm 2>/dev/null || ps; hostname"
            for _ in range(2):  # both containers are warm; one of them was the victim's
                out, sink = await run(backend, shell(ps))
                assert out.state == State.DONE and "sleep" not in sink.text("stdout")
            assert len(backend.containers()) == 2

    in_thread(body)


def test_max_time_and_a_command_that_ignores_sigterm() -> None:
    async def body() -> None:
        async with opened() as backend:
            sent = sent_signals(backend)
            job = shell("trap '' TERM; echo started; sleep 60")
            sink = Sink()
            task = asyncio.create_task(backend.run(job, sink, sink.started))
            await printed(sink, "started")
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.1):  # what the runner does for max_time
                    await task
            assert sent == ["TERM", "KILL"]  # it ignored SIGTERM: SIGKILL after the grace
            out, sink = await run(backend, shell("echo next"))
            assert out.state == State.DONE and sink.text("stdout") == "next\n"
            assert len(backend.containers()) == 1  # the same container took it

    in_thread(body)


def test_out_of_memory_is_an_error_that_says_so() -> None:
    async def body() -> None:
        async with opened() as backend:
            out, sink = await run(backend, shell("head -c 200m /dev/zero | tail", mem=0.05))
            assert (out.state, out.exit_code) == (State.ERROR, 137), (out, sink.items)
            assert out.message == "out of memory (mem=0.05 GB)"
            out, _ = await run(backend, shell("head -c 200m /dev/zero | tail; true", mem=0.05))
            assert out.state == State.DONE and "ran out of memory" in (out.message or "")
            out, sink = await run(backend, shell("echo fine", mem=0.05))  # it lives on
            assert out.state == State.DONE and sink.text("stdout") == "fine\n"
            killed, _ = await run(backend, shell("kill -9 $$", mem=0.05))
            assert (killed.state, killed.exit_code, killed.message) == (State.ERROR, 137, None)
            # The job goes first when memory runs out, so the worker lives to report it.
            out, sink = await run(backend, shell("cat /proc/self/oom_score_adj", mem=0.05))
            assert sink.text("stdout") == "500\n"

    in_thread(body)


# -- Python callables ---------------------------------------------------------------------------
def add(x: int, y: int = 0) -> dict[str, Any]:
    import subprocess

    print("adding", x, y)
    print("to stderr", file=sys.stderr)
    subprocess.run(["echo", "from a subprocess"], check=True)
    return {"sum": x + y, "host": os.uname().nodename, "env": os.environ.get("CO_VAR")}


def fail() -> None:
    raise ValueError("boom")


def make_tree(n: int) -> Serial:
    with Serial(name="made") as root:
        for i in range(n):
            Exec(f"echo {i}", name=f"e{i}")
    return root


def test_a_lazy_generator_builds_its_tree_in_the_container() -> None:
    async def body() -> None:
        async with opened() as backend:
            out, sink = await run(backend, call(make_tree, 2, generates=True))
            assert out.state == State.DONE, sink.text("stderr")
            assert out.result == make_tree(2).to_json()

    in_thread(body)


def test_callables_run_in_the_container() -> None:
    async def body() -> None:
        async with opened() as backend:
            out, sink = await run(backend, call(add, 2, y=3, env={"CO_VAR": "set"}))
            assert out.state == State.DONE and out.exit_code == 0
            assert out.result["sum"] == 5 and out.result["env"] == "set"
            assert out.result["host"] == backend.containers()[0][:12]
            assert sink.text("stdout") == "adding 2 3\nfrom a subprocess\n"
            assert sink.text("stderr") == "to stderr\n"
            offset = 40
            out, _ = await run(backend, call(lambda x: x + offset, 2))
            assert out.result == 42
            out, sink = await run(backend, call(fail))
            assert (out.state, out.exit_code) == (State.ERROR, 1)
            err = sink.text("stderr")
            assert "Traceback" in err and "in fail" in err and "ValueError: boom" in err
            out, _ = await run(backend, call(sys.exit, 4))
            assert (out.state, out.exit_code) == (State.ERROR, 4)
            out, _ = await run(backend, call(lambda: (i for i in range(3))))
            assert out.state == State.DONE and out.result.startswith("<generator object")
            out, sink = await run(backend, call(lambda: 42, generates=True))
            assert out.state == State.ERROR and "must return a node" in (out.message or "")
            big = b"x" * 2_000_000
            out, _ = await run(backend, call(lambda data: data + b"!", big))
            assert out.result == big + b"!"
            assert len(backend.containers()) == 1  # all in the one warm container

    in_thread(body)


def test_busybox_runs_shell_jobs_and_refuses_callables_clearly() -> None:
    async def body() -> None:
        async with opened() as backend:
            out, sink = await run(backend, call(add, 1, image=BUSYBOX))
            assert out.state == State.ERROR and sink.starts == []
            assert out.message == (
                "/call: image busybox:latest has no python3: a Python callable needs Python "
                f"{sys.version_info.major}.{sys.version_info.minor} in its image"
            )
            assert sink.text("stderr") == ""  # the runner adds the message, once
            out, sink = await run(backend, shell("echo still fine"))
            assert out.state == State.DONE and sink.text("stdout") == "still fine\n"

    in_thread(body)


def test_a_python_version_mismatch_names_the_node_and_both_versions(docker_client: Any) -> None:
    fake = "conducto-nb-test/fake-python:3.9"
    box = docker_client.containers.run(
        BUSYBOX,
        ["sh", "-c", "printf '#!/bin/sh\\necho 3.9\\n' > /bin/python3 && chmod +x /bin/python3"],
        detach=True,
        labels={"org.conducto-nb.test": "fake"},
    )
    try:
        box.wait(timeout=10)
        box.commit(*fake.split(":"))
    finally:
        box.remove(force=True)

    async def body() -> None:
        async with opened() as backend:
            out, _ = await run(backend, call(add, 1, image=fake, path="/report"))
            assert out.state == State.ERROR
            ours = f"{sys.version_info.major}.{sys.version_info.minor}"
            assert out.message == (
                f"/report: image {fake} has Python 3.9 but this kernel runs Python {ours}: "
                "cloudpickle needs the same version on both ends"
            )

    try:
        in_thread(body)
    finally:
        docker_client.images.remove(fake, force=True)


def test_gpu_asks_the_daemon_for_gpus_and_says_so_where_there_are_none(
    docker_client: Any,
) -> None:
    with Serial(image=BUSYBOX, stop_on_error=False) as root:
        Exec("echo on a GPU", name="trains", gpu=1)
        Exec("echo on cpus", name="plain")
    run = root.run(backend="docker")
    assert run["/plain"].stdout == "on cpus\n"
    trains = run["/trains"]
    if "nvidia" in docker_client.info().get("Runtimes", {}):  # a GPU machine: it runs there
        assert trains.state is State.DONE and trains.stdout == "on a GPU\n"
        return
    assert trains.state is State.ERROR and trains.stdout == ""
    message = trains.attempts[-1].message or ""
    assert message.startswith("gpu=1 needs GPUs on the Docker daemon"), message
    assert "gpu" in message.split(";", 1)[1]  # Docker's own words follow


def test_a_node_that_cannot_run_in_its_image_says_why_once() -> None:
    with Serial(image=BUSYBOX) as root:
        Exec(add, 1, 2, name="call")
    run = root.run(backend="docker")
    result = run["/call"]
    assert result.state is State.ERROR
    message = result.attempts[-1].message or ""
    assert message == (
        "/call: image busybox:latest has no python3: a Python callable needs Python "
        f"{sys.version_info.major}.{sys.version_info.minor} in its image"
    )
    assert result.stderr.count(message) == 1, result.stderr
