"""The warm Python of a Docker container, as a user sees it: callables in one pooled container
are forks of one warm Python (docker_boot.py's `serve`), yet each sees only its own env and
state, streams its output, can be killed, and ends as a python3 of its own would; where the
warm Python cannot serve a job, the job runs in a fresh python3 as before."""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import time
from typing import Any

import cloudpickle
import pytest
from backend_kit import (
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

from conducto_nb.backends.docker import worker
from conducto_nb.model.states import State
from tests.async_kit import FAILING_CELL, Sink, cell_function

# This module's functions run in containers, which cannot import it: send them by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def parent() -> str:
    """Which process started this call: "warm" (the warm Python) or "shell" (the worker)."""
    import os

    with open(f"/proc/{os.getppid()}/cmdline", "rb") as f:
        argv = f.read().split(b"\0")
    return "warm" if b"--serve" in argv else "shell" if argv[:2] == [b"sh", b"-s"] else str(argv)


def leave_traces(tag: str) -> dict[str, Any]:
    """Change what a later call in the same process would see, and report what this one sees."""
    import json
    import os

    seen = {
        "env": {k: os.environ.get(k) for k in ("ONLY_A", "ONLY_B", "SET_AT_RUN_TIME")},
        "module": getattr(json, "co_left_here", None),
        "path": "/left/here" in sys.path,
        "ppid": os.getppid(),
        "parent": parent(),
    }
    os.environ["SET_AT_RUN_TIME"] = tag
    json.co_left_here = tag  # type: ignore[attr-defined]
    sys.path.append("/left/here")
    return seen


def test_callables_in_one_container_share_a_warm_python_but_no_env_or_state() -> None:
    async def body() -> None:
        async with opened(cpu_budget=1) as backend:
            a, sink = await run(backend, call(leave_traces, "a", env={"ONLY_A": "a"}))
            assert a.state == State.DONE, sink.text("stderr")
            b, _ = await run(backend, call(leave_traces, "b", env={"ONLY_B": "b"}))
            c, _ = await run(backend, call(leave_traces, "c"))
            assert len(backend.containers()) == 1
            assert a.result["parent"] == b.result["parent"] == c.result["parent"] == "warm"
            assert a.result["ppid"] == b.result["ppid"] == c.result["ppid"]  # one warm Python
            assert a.result["env"] == {"ONLY_A": "a", "ONLY_B": None, "SET_AT_RUN_TIME": None}
            assert b.result["env"] == {"ONLY_A": None, "ONLY_B": "b", "SET_AT_RUN_TIME": None}
            assert c.result["env"] == {"ONLY_A": None, "ONLY_B": None, "SET_AT_RUN_TIME": None}
            for seen in (a.result, b.result, c.result):
                assert (seen["module"], seen["path"]) == (None, False)  # a fork each

    in_thread(body)


def chatty() -> str:

    print("first")
    sys.stdout.write("partial")  # no newline: PYTHONUNBUFFERED=1 sends it at once
    print("to stderr", file=sys.stderr)
    time.sleep(0.6)
    print(" line")
    return "result"


def test_a_callables_output_streams_while_it_runs() -> None:
    async def body() -> None:
        async with opened() as backend:
            await run(backend, call(parent))  # the warm Python is up
            out, sink = await run(backend, call(chatty, env={"PYTHONUNBUFFERED": "1"}))
            assert out.state == State.DONE and out.result == "result"
            assert sink.text("stdout") == "first\npartial line\n"
            assert sink.text("stderr") == "to stderr\n"
            when = {text: t for _, text, t in sink.items}
            last = next(t for text, t in when.items() if "line" in text)
            for early in ("first", "partial", "to stderr"):
                arrived = next(t for text, t in when.items() if early in text)
                assert last - arrived > 0.4, (early, sink.items)  # as printed, not at the end

    in_thread(body)


def sleeper(ignore_term: bool) -> None:
    import os
    import signal
    import subprocess

    if ignore_term:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    subprocess.Popen(["sleep", "60"])  # a process of its own, stopped with it
    print("started", os.getppid(), flush=True)
    time.sleep(60)


async def _killed(backend: Any, ignore_term: bool, args: list[str] | None = None) -> int:
    """Start `sleeper`, cancel it once it has printed, check that the kill took SIGTERM alone
    (with a grace no kill reaches by chance) or SIGKILL after the grace when SIGTERM is
    ignored: the pid of the process that forked it."""
    sink = Sink()
    job = dataclasses.replace(call(sleeper, ignore_term), docker_run_args=args or [])
    task = asyncio.create_task(backend.run(job, sink, sink.started))
    await printed(sink, "started")
    sent = sent_signals(backend)
    grace = worker.GRACE
    worker.GRACE = grace if ignore_term else LONG_GRACE  # so only a needed SIGKILL is sent
    try:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        worker.GRACE = grace
    assert sent == (["TERM", "KILL"] if ignore_term else ["TERM"])
    return int(sink.text("stdout").split()[1])


def test_a_killed_callable_stops_and_the_warm_python_takes_the_next() -> None:
    async def body() -> None:
        async with opened(cpu_budget=1) as backend:
            warm = await _killed(backend, ignore_term=False)  # SIGTERM did
            again = await _killed(backend, ignore_term=True)  # SIGKILL after
            assert again == warm  # the kill spared the warm Python
            ps = "for d in /proc/[0-9]*; do cat $d/cmdline 2>/dev/null | tr '\\0' ' '; echo; done"
            for _ in range(30):  # the killed job's `sleep` is gone (a dying one may linger)
                out, sink = await run(backend, shell(ps, image=PYTHON))
                assert out.state == State.DONE
                if "sleep" not in sink.text("stdout"):
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError(f"the killed job left processes: {sink.text('stdout')}")
            out, sink = await run(backend, call(leave_traces, "next"))
            assert out.state == State.DONE, sink.text("stderr")
            assert (out.result["parent"], out.result["ppid"]) == ("warm", warm)
            assert len(backend.containers()) == 1

    in_thread(body)


def test_the_warm_python_outlives_the_pooled_cleanup_and_comes_back_if_killed() -> None:
    async def body() -> None:
        async with opened(cpu_budget=1) as backend:
            first, _ = await run(backend, call(leave_traces, "1"))
            # Each pooled job ends with `kill -TERM -1`: this one also leaves a process behind.
            out, _ = await run(backend, shell("sleep 60 & echo left", image=PYTHON))
            second, _ = await run(backend, call(leave_traces, "2"))
            assert out.state == second.state == State.DONE
            assert first.result["ppid"] == second.result["ppid"]
            warm = first.result["ppid"]
            # The child it forked ahead for the next call dies as a kill of everything would
            # kill it (SIGKILL): the next call gets another.
            out, sink = await run(backend, shell(signal_spare(warm, "kill -KILL"), image=PYTHON))
            assert sink.text("stdout") == "signalled\n"
            again, sink = await run(backend, call(leave_traces, "again"))
            assert (again.state, again.exit_code) == (State.DONE, 0), sink.text("stderr")
            assert again.result["ppid"] == warm
            # Killed after the job went down its pipe but before it took it (held stopped
            # until then): the job is not lost with it, another child runs it.
            # (TERM ignored before the fork: the pooled cleanup may come before the killer runs)
            stop_then_kill = "kill -STOP $pid; trap '' TERM; (sleep 1; kill -KILL $pid)"
            stop_then_kill += " >/dev/null 2>&1 &"
            out, sink = await run(backend, shell(signal_spare(warm, stop_then_kill), image=PYTHON))
            assert sink.text("stdout") == "signalled\n"
            later, sink = await run(backend, call(leave_traces, "later"))
            assert (later.state, later.exit_code) == (State.DONE, 0), sink.text("stderr")
            assert later.result["ppid"] == warm
            out, _ = await run(backend, shell(f"kill -KILL {warm}", image=PYTHON))
            assert out.state == State.DONE
            third, sink = await run(backend, call(leave_traces, "3"))
            assert third.state == State.DONE, sink.text("stderr")
            assert third.result["parent"] == "warm" and third.result["ppid"] != warm
            assert len(backend.containers()) == 1

    in_thread(body)


def signal_spare(warm: int, signal: str) -> str:
    """A shell job running `signal` on the child the warm Python `warm` forked ahead ($pid);
    it prints "signalled". (The child is forked once the last call ended: it may take a moment
    to appear.)"""
    return (
        "for _ in $(seq 50); do for d in /proc/[0-9]*; do read -r _ _ _ ppid _ < $d/stat;"
        f' if [ "$ppid" = {warm} ]; then pid=${{d#/proc/}}\n{signal}\necho signalled; exit;'
        " fi; done; sleep 0.1; done"
    )


def exits_with_leftovers() -> None:
    import atexit
    import json
    import threading

    def later() -> None:
        time.sleep(0.3)
        print("thread done", flush=True)

    atexit.register(lambda: print("atexit ran", flush=True))
    threading.Thread(target=later).start()  # not a daemon: the exit waits for it
    json.co_file = open("/tmp/co-unflushed", "w")  # type: ignore[attr-defined]  # noqa: SIM115
    json.co_file.write("kept")  # type: ignore[attr-defined]  # never flushed nor closed
    sys.exit(3)


def test_a_callable_ends_as_a_python3_of_its_own_would() -> None:
    async def body() -> None:
        async with opened(cpu_budget=1) as backend:
            out, sink = await run(backend, call(exits_with_leftovers))
            assert (out.state, out.exit_code) == (State.ERROR, 3), sink.items
            assert sink.text("stdout") == "thread done\natexit ran\n"
            out, sink = await run(backend, shell("cat /tmp/co-unflushed", image=PYTHON))
            assert sink.text("stdout") == "kept"

    in_thread(body)


def test_a_callable_that_cannot_be_unpickled_in_the_container_says_why() -> None:
    import backend_kit  # importable here, not in the container: pickled by reference

    async def body() -> None:
        async with opened() as backend:
            out, sink = await run(backend, call(backend_kit.shell, "true"))
            assert (out.state, out.exit_code) == (State.ERROR, 1)
            assert out.message == (
                'cannot unpickle the callable in the container: ModuleNotFoundError("No module '
                "named 'backend_kit'\") (install backend_kit in the image)"
            )
            assert "Traceback" in sink.text("stderr")
            out, _ = await run(backend, call(parent))
            assert (out.state, out.result) == (State.DONE, "warm")

    in_thread(body)


def python_path() -> tuple[bool, str]:
    return "/opt/extra" in sys.path, parent()


def test_a_job_that_sets_what_python_reads_at_start_runs_in_a_fresh_python3() -> None:
    async def body() -> None:
        async with opened(cpu_budget=1) as backend:
            out, _ = await run(backend, call(python_path, env={"PYTHONPATH": "/opt/extra"}))
            assert out.result == (True, "shell")
            out, _ = await run(backend, call(python_path, env={"PYTHONUNBUFFERED": "1"}))
            assert out.result == (False, "warm")

    in_thread(body)


def test_without_a_writable_place_for_its_fifos_callables_run_in_fresh_python3s() -> None:
    args = ["--read-only", "--tmpfs", "/dev/shm:ro"]

    async def body() -> None:
        async with opened(cpu_budget=1) as backend:
            for _ in range(2):
                job = dataclasses.replace(call(python_path), docker_run_args=args)
                out, sink = await run(backend, job)
                assert out.state == State.DONE, sink.text("stderr")
                assert out.result == (False, "shell") and sink.text("stderr") == ""
            assert len(backend.containers()) == 1

    in_thread(body)


def test_the_warm_python_under_a_busybox_worker_shell() -> None:
    import os

    if not os.path.exists("/bin/busybox"):  # scripts/images.sh installs busybox-static
        why = "no /bin/busybox on this machine: apt-get install busybox-static"
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    # Busybox's ash as the image's /bin/sh: the worker shell, the jobs' sh and the kill's.
    args = ["-v", f"{os.path.realpath('/bin/busybox')}:/bin/sh:ro"]

    async def body() -> None:
        async with opened(cpu_budget=1) as backend:
            out, sink = await run(
                backend, shell("sh --help 2>&1", image=PYTHON, docker_run_args=args)
            )
            assert "BusyBox" in sink.text("stdout")
            seen = []
            for env in ({"ONLY_A": "a"}, {}):
                job = dataclasses.replace(call(leave_traces, "x", env=env), docker_run_args=args)
                out, sink = await run(backend, job)
                assert out.state == State.DONE, sink.text("stderr")
                seen.append(out.result)
            assert [s["parent"] for s in seen] == ["warm", "warm"]
            assert seen[0]["ppid"] == seen[1]["ppid"]
            assert [s["env"]["ONLY_A"] for s in seen] == ["a", None]
            job = dataclasses.replace(call(exits_with_leftovers), docker_run_args=args)
            out, sink = await run(backend, job)
            assert (out.state, out.exit_code) == (State.ERROR, 3)
            assert sink.text("stdout") == "thread done\natexit ran\n"
            killed = await _killed(backend, ignore_term=True, args=args)
            assert killed == seen[0]["ppid"]  # the kill spared the warm Python
            assert len(backend.containers()) == 1

    in_thread(body)


def hog() -> None:
    print("allocating", flush=True)
    blocks = [bytearray(2**20) for _ in range(300)]  # 300 MB, pages touched
    print(len(blocks))


def test_a_callable_out_of_memory_is_an_error_that_says_so_and_the_next_runs() -> None:
    async def body() -> None:
        async with opened(cpu_budget=1) as backend:
            first, _ = await run(backend, call(leave_traces, "x", mem=0.1))
            out, sink = await run(backend, call(hog, mem=0.1))
            assert (out.state, out.exit_code) == (State.ERROR, 137), sink.items
            assert out.message == "out of memory (mem=0.1 GB)"
            out, sink = await run(backend, call(leave_traces, "y", mem=0.1))
            assert out.state == State.DONE, sink.text("stderr")
            assert out.result["parent"] == "warm"
            assert out.result["ppid"] == first.result["ppid"]  # the kernel chose the hog
            assert len(backend.containers()) == 1

    in_thread(body)


def start_server() -> None:
    import subprocess

    proc = subprocess.Popen(["sleep", "60"])
    with open("/tmp/server.pid", "w") as f:
        f.write(str(proc.pid))
    print(parent())


def server_up() -> None:
    import os

    with open("/tmp/server.pid") as f:
        print(os.path.exists(f"/proc/{f.read()}"), parent())


def test_in_a_reuse_group_what_a_callable_starts_stays_up_for_the_next(tmp_path: Any) -> None:
    import conducto_nb as co
    from conducto_nb.backends.docker.backend import DockerBackend
    from conducto_nb.run import launch
    from conducto_nb.run.loop import background_loop

    backend = DockerBackend(cpu_budget=2)
    with co.Serial(image=PYTHON) as root:
        with co.Serial(name="app", container_reuse_context=co.ContainerReuseContext.NEW):
            co.Exec(start_server, name="start")
            co.Exec(server_up, name="check")
    try:
        result = launch.run(root, backend=backend, workdir=tmp_path, persist=False)
        assert result.state == State.DONE, result["/app/check"].stderr
        assert result["/app/start"].stdout == "warm\n"
        assert result["/app/check"].stdout == "True warm\n"
    finally:
        background_loop().submit(backend.close()).result()


def test_a_failing_callable_from_a_cell_shows_the_cells_own_lines() -> None:
    build_report = cell_function(FAILING_CELL, "build_report")

    async def body() -> None:
        async with opened(cpu_budget=1) as backend:
            out, sink = await run(backend, call(build_report, 21))
            assert out.state == State.ERROR
            err = sink.text("stderr")
            assert 'File "/tmp/ipykernel_0/cell-7.py", line 3, in build_report' in err, err
            assert "raise ValueError(f'bad total {total}')" in err

    in_thread(body)
