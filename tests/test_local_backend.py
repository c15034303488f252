"""The local backend with real processes: shell commands, warm Python workers, kills, budget.

Each test body runs on a fresh event loop in a background thread, as the runner calls it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conducto_nb import Exec, Serial
from conducto_nb.backends.base import Job, Outcome
from conducto_nb.backends.local import process
from conducto_nb.backends.local.backend import LocalBackend
from conducto_nb.model.execs import Command
from conducto_nb.model.states import State
from tests.async_kit import FAILING_CELL, Sink, cell_function, in_thread
from tests.wait_kit import wait_for

#: A SIGKILL grace no kill can reach by chance: a kill that ends before it took only SIGTERM.
LONG_GRACE = 60.0


def escalations(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """From now on, the processes whose kill went on to SIGKILL (`Child.kill`, after the
    grace): which signal ended a job, whatever the time it took."""
    seen: list[int] = []
    original = process.Child.kill

    def kill(self: process.Child) -> None:
        seen.append(self.pid)
        original(self)

    monkeypatch.setattr(process.Child, "kill", kill)
    return seen


def shell(cmd: str, cwd: Path, **kw: Any) -> Job:
    env = kw.pop("env", {})
    return Job("pipe", "/sh", 0, Command.of_shell(cmd), env, cwd, **kw)


def call(func: Callable[..., Any], *args: Any, cwd: Path, **kw: Any) -> Job:
    env = kw.pop("env", {})
    generates = kw.pop("generates", False)
    command = Command.of_call(func, args, kw)
    return Job("pipe", "/call", 0, command, env, cwd, generates=generates)


async def run(backend: LocalBackend, job: Job) -> tuple[Outcome, Sink]:
    sink = Sink()
    outcome = await backend.run(job, sink, sink.started)
    assert len(sink.starts) == 1
    return outcome, sink


def is_gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")  # a zombie no longer runs


async def wait_for_file(path: Path, lines: int) -> list[int]:
    for _ in range(500):
        if path.exists() and len(text := path.read_text().split()) >= lines:
            return [int(x) for x in text]
        await asyncio.sleep(0.01)
    raise AssertionError(f"{path} never got {lines} lines")


async def wait_gone(pids: list[int]) -> None:
    for _ in range(300):
        if all(is_gone(p) for p in pids):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"still running: {[p for p in pids if not is_gone(p)]}")


# -- shell commands -----------------------------------------------------------------------
def test_shell_output_exit_codes_env_and_cwd(tmp_path: Path) -> None:
    async def body() -> None:
        backend = LocalBackend(2)
        await backend.open()
        try:
            out, sink = await run(
                backend, shell("echo a; echo b >&2; echo c; echo d >&2; exit 3", tmp_path)
            )
            assert (out.state, out.exit_code) == (State.ERROR, 3)
            assert sink.text("stdout") == "a\nc\n" and sink.text("stderr") == "b\nd\n"

            out, sink = await run(backend, shell("true", tmp_path))
            assert (out.state, out.exit_code) == (State.DONE, 0)

            where = tmp_path / "new" / "dir"
            job = shell('echo "$FOO"; pwd; echo "$PATH"', where, env={"FOO": "bar baz"})
            out, sink = await run(backend, job)
            assert out.state == State.DONE
            assert sink.text("stdout") == f"bar baz\n{where}\n{os.environ['PATH']}\n"

            out, sink = await run(backend, shell("kill -9 $$", tmp_path))
            assert (out.state, out.exit_code) == (State.ERROR, -9)
            assert out.message is not None and "SIGKILL" in out.message
        finally:
            await backend.close()

    in_thread(body)


def test_a_shell_job_sees_this_process_environment_as_it_is_when_the_job_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """os.environ changed between jobs (a notebook cell setting a variable) shows in the
    next job; the job's own env wins over it."""

    async def body() -> None:
        backend = LocalBackend(2)
        try:
            seen = []
            for value in ("first", "second", None):
                if value is None:
                    monkeypatch.delenv("CONDUCTO_NB_TEST_VAR")
                else:
                    monkeypatch.setenv("CONDUCTO_NB_TEST_VAR", value)
                job = shell('echo "${CONDUCTO_NB_TEST_VAR-unset} $OWN"', tmp_path, env={"OWN": "é"})
                _, sink = await run(backend, job)
                seen.append(sink.text("stdout"))
            monkeypatch.setenv("OWN", "from the process")
            _, sink = await run(backend, shell('echo "$OWN"', tmp_path, env={"OWN": "job"}))
            seen.append(sink.text("stdout"))
            assert seen == ["first é\n", "second é\n", "unset é\n", "job\n"]
        finally:
            await backend.close()

    in_thread(body)


def test_output_streams_as_it_comes_and_keeps_characters_whole(tmp_path: Path) -> None:
    async def body() -> None:
        backend = LocalBackend(2)
        try:
            cmd = r"printf 'one\n'; sleep 0.3; printf '\303'; sleep 0.1; printf '\251\n'"
            out, sink = await run(backend, shell(cmd, tmp_path))
            assert out.state == State.DONE
            assert sink.text("stdout") == "one\n\u00e9\n"
            assert "\ufffd" not in sink.text("stdout")
            first, last = sink.items[0], sink.items[-1]
            assert first[1] == "one\n" and last[2] - first[2] > 0.25  # not all at the end
        finally:
            await backend.close()

    in_thread(body)


def test_a_missing_binary_is_an_error_with_the_reason_in_stderr(tmp_path: Path) -> None:
    async def body() -> None:
        backend = LocalBackend(2)
        try:
            out, sink = await run(backend, shell("no-such-binary-4711 --flag", tmp_path))
            assert (out.state, out.exit_code) == (State.ERROR, 127)
            assert "no-such-binary-4711" in sink.text("stderr")
            assert "not found" in sink.text("stderr")
        finally:
            await backend.close()

    in_thread(body)


def test_cancelling_kills_the_whole_process_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(process, "GRACE", LONG_GRACE)
    killed = escalations(monkeypatch)

    async def body() -> None:
        backend = LocalBackend(2)
        try:
            pids = tmp_path / "pids"
            cmd = f"sleep 300 & echo $! > {pids}; sleep 300 & echo $! >> {pids}; echo $$ >> {pids}"
            job = shell(cmd + "; echo ready; wait", tmp_path)
            sink = Sink()
            task = asyncio.create_task(backend.run(job, sink, sink.started))
            found = await wait_for_file(pids, 3)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert killed == []  # SIGTERM was enough: no SIGKILL
            assert "ready\n" in sink.text("stdout")  # what was streamed stays delivered
            await wait_gone(found)
            assert not backend._children
        finally:
            await backend.close()

    in_thread(body)


def test_what_ignores_sigterm_gets_sigkill(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    killed = escalations(monkeypatch)

    async def body() -> None:
        backend = LocalBackend(2)
        try:
            pids = tmp_path / "pids"
            cmd = f"trap '' TERM; sleep 300 & echo $! > {pids}; echo $$ >> {pids}; wait"
            task = asyncio.create_task(backend.run(shell(cmd, tmp_path), Sink(), lambda: None))
            found = await wait_for_file(pids, 2)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert killed == [found[-1]]  # the shell's group: SIGKILL after the grace
            await wait_gone(found)
        finally:
            await backend.close()

    in_thread(body)


def test_a_command_ends_when_its_shell_does_and_its_leftovers_are_stopped(
    tmp_path: Path,
) -> None:
    async def body() -> None:
        backend = LocalBackend(2)
        try:
            pid_file = tmp_path / "pid"
            async with asyncio.timeout(150):  # not the 300 s its leftover would take
                out, _ = await run(backend, shell(f"sleep 300 & echo $! > {pid_file}", tmp_path))
            assert out.state == State.DONE
            await wait_gone([int(pid_file.read_text())])
        finally:
            await backend.close()

    in_thread(body)


# -- the CPU budget -----------------------------------------------------------------------
def test_the_cpu_budget_limits_concurrency(tmp_path: Path) -> None:
    async def body() -> list[tuple[float, float]]:
        backend = LocalBackend(2)
        try:

            async def one() -> tuple[float, float]:
                out, sink = await run(backend, shell("sleep 0.3", tmp_path, cpu=1))
                assert out.state == State.DONE
                return sink.starts[0], time.monotonic()

            return await asyncio.gather(*(one() for _ in range(4)))
        finally:
            await backend.close()

    spans = in_thread(body)
    for start, _ in spans:
        overlapping = sum(1 for s, e in spans if s <= start < e)
        assert overlapping <= 2
    assert max(e for _, e in spans) - min(s for s, _ in spans) >= 0.55


def test_a_job_bigger_than_the_budget_runs_alone(tmp_path: Path) -> None:
    async def body() -> None:
        backend = LocalBackend(2)
        try:
            big = asyncio.create_task(run(backend, shell("sleep 0.2", tmp_path, cpu=8)))
            small = asyncio.create_task(run(backend, shell("true", tmp_path, cpu=1)))
            (out_big, sink_big), (out_small, sink_small) = await asyncio.gather(big, small)
            assert out_big.state == out_small.state == State.DONE
            assert sink_small.starts[0] - sink_big.starts[0] >= 0.19
        finally:
            await backend.close()

    in_thread(body)


def test_a_cancelled_waiting_job_leaves_the_queue_cleanly(tmp_path: Path) -> None:
    async def body() -> None:
        backend = LocalBackend(1)
        try:
            first = asyncio.create_task(run(backend, shell("sleep 0.3", tmp_path)))
            waiting_sink = Sink()
            waiting = asyncio.create_task(
                backend.run(shell("true", tmp_path), waiting_sink, waiting_sink.started)
            )
            await asyncio.sleep(0.1)
            assert backend.budget.waiting == 1
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            assert waiting_sink.starts == [] and backend.budget.waiting == 0
            assert (await first)[0].state == State.DONE
            assert (await run(backend, shell("true", tmp_path)))[0].state == State.DONE
            assert backend.budget.used == 0 and backend.budget.holders == 0
        finally:
            await backend.close()

    in_thread(body)


# -- Python callables ---------------------------------------------------------------------
def add(x: int, y: int = 0) -> dict[str, int]:
    print("adding", x, y)
    print("to stderr", file=sys.stderr)
    subprocess.run(["echo", "from a subprocess"], check=True)
    return {"sum": x + y, "pid": os.getpid()}


def env_and_cwd() -> tuple[str | None, str]:
    return os.environ.get("CO_TEST_VAR"), os.getcwd()


def meddle_with_env() -> tuple[str | None, str | None]:
    home = os.environ.pop("HOME", None)
    os.environ["CO_TEST_LEFT"] = "behind"
    os.environ["PATH"] = "/nowhere"
    return home, os.environ.get("CO_TEST_VAR")


def env_seen() -> tuple[str | None, str | None, str | None]:
    return os.environ.get("HOME"), os.environ.get("CO_TEST_LEFT"), os.environ.get("PATH")


def test_callables_run_in_warm_workers(tmp_path: Path) -> None:
    async def body() -> None:
        backend = LocalBackend(2)
        try:
            out, sink = await run(backend, call(add, 2, cwd=tmp_path, y=3))
            assert out.state == State.DONE and out.exit_code == 0
            assert out.result["sum"] == 5
            assert sink.text("stdout") == "adding 2 3\nfrom a subprocess\n"
            assert sink.text("stderr") == "to stderr\n"

            again, _ = await run(backend, call(add, 1, cwd=tmp_path))
            assert again.result["pid"] == out.result["pid"] != os.getpid()  # reused

            offset = 40
            out, _ = await run(backend, call(lambda x: x + offset, 2, cwd=tmp_path))
            assert out.result == 42

            where = tmp_path / "elsewhere"
            job = call(env_and_cwd, cwd=where, env={"CO_TEST_VAR": "set"})
            out, _ = await run(backend, job)
            assert out.result == ("set", str(where))
            out, _ = await run(backend, call(env_and_cwd, cwd=tmp_path))
            assert out.result == (None, str(tmp_path))  # restored between jobs
            out, _ = await run(
                backend, call(meddle_with_env, cwd=tmp_path, env={"CO_TEST_VAR": "x"})
            )
            assert out.result == (os.environ.get("HOME"), "x")
            out, _ = await run(backend, call(env_seen, cwd=tmp_path))  # what the call changed
            assert out.result == (os.environ.get("HOME"), None, os.environ.get("PATH"))

            out, _ = await run(backend, call(lambda: (i for i in range(3)), cwd=tmp_path))
            assert out.state == State.DONE and out.result.startswith("<generator object")
        finally:
            await backend.close()

    in_thread(body)


def test_the_pool_grows_up_to_the_budget(tmp_path: Path) -> None:
    async def body() -> set[int]:
        backend = LocalBackend(1.5)
        try:
            jobs = [call(lambda: (time.sleep(0.1), os.getpid())[1], cwd=tmp_path) for _ in range(6)]
            outs = await asyncio.gather(
                *(run(backend, dataclasses.replace(j, cpu=0.5)) for j in jobs)
            )
            assert all(o.state == State.DONE for o, _ in outs)
            assert len(backend.pool.workers) == 2
            return {o.result for o, _ in outs}
        finally:
            await backend.close()

    assert len(in_thread(body)) == 2


def test_a_job_cancelled_while_waiting_for_a_worker_leaves_cleanly(tmp_path: Path) -> None:
    async def body() -> None:
        backend = LocalBackend(1)  # one worker; cpu=0.25 lets four jobs in at once
        try:
            job = dataclasses.replace(call(time.sleep, 0.2, cwd=tmp_path), cpu=0.25)
            sinks = [Sink() for _ in range(3)]
            tasks = [asyncio.create_task(backend.run(job, s, s.started)) for s in sinks]
            await asyncio.sleep(0.05)
            assert len(backend.pool.waiters) == 2
            tasks[1].cancel()
            with pytest.raises(asyncio.CancelledError):
                await tasks[1]
            assert sinks[1].starts == []
            assert [(await t).state for t in (tasks[0], tasks[2])] == [State.DONE] * 2
            assert not backend.pool.waiters and len(backend.pool.workers) == 1
        finally:
            await backend.close()

    in_thread(body)


def fail() -> None:
    raise ValueError("boom")


def test_an_exception_is_an_error_with_its_traceback_in_stderr(tmp_path: Path) -> None:
    async def body() -> None:
        backend = LocalBackend(2)
        try:
            out, sink = await run(backend, call(fail, cwd=tmp_path))
            assert (out.state, out.exit_code) == (State.ERROR, 1)
            err = sink.text("stderr")
            assert "Traceback" in err and "in fail" in err and "ValueError: boom" in err
            out, _ = await run(backend, call(sys.exit, 4, cwd=tmp_path))
            assert (out.state, out.exit_code) == (State.ERROR, 4)
        finally:
            await backend.close()

    in_thread(body)


def test_a_worker_that_dies_is_a_worker_error_and_is_replaced(tmp_path: Path) -> None:
    async def body() -> None:
        backend = LocalBackend(2)
        try:

            def die() -> None:
                print("about to die", flush=True)
                os._exit(3)

            out, sink = await run(backend, call(die, cwd=tmp_path))
            assert out.state == State.WORKER_ERROR
            assert out.message is not None and "exited with code 3" in out.message
            assert sink.text("stdout") == "about to die\n"
            out, sink = await run(backend, call(add, 1, cwd=tmp_path, y=1))
            assert out.state == State.DONE and out.result["sum"] == 2
        finally:
            await backend.close()

    in_thread(body)


def test_cancelling_a_callable_kills_its_worker_and_the_pool_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(process, "GRACE", LONG_GRACE)
    killed = escalations(monkeypatch)

    async def body() -> None:
        backend = LocalBackend(1)
        try:
            pid_file = tmp_path / "pid"

            def sleepy() -> None:
                pid_file.write_text(str(os.getpid()))
                time.sleep(300)

            task = asyncio.create_task(backend.run(call(sleepy, cwd=tmp_path), Sink(), bool))
            (pid,) = await wait_for_file(pid_file, 1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert killed == []  # SIGTERM was enough: no SIGKILL
            await wait_gone([pid])
            out, _ = await run(backend, call(add, 2, cwd=tmp_path))
            assert out.state == State.DONE and out.result["pid"] != pid
        finally:
            await backend.close()

    in_thread(body)


def test_callable_output_streams_while_it_runs(tmp_path: Path) -> None:
    async def body() -> None:
        backend = LocalBackend(1)
        try:

            def slow() -> None:
                print("first")
                time.sleep(0.3)
                print("second")

            out, sink = await run(backend, call(slow, cwd=tmp_path))
            assert out.state == State.DONE and sink.text("stdout") == "first\nsecond\n"
            assert sink.items[-1][2] - sink.items[0][2] > 0.25
        finally:
            await backend.close()

    in_thread(body)


def test_big_arguments_results_and_output_go_through_whole(tmp_path: Path) -> None:
    async def body() -> None:
        backend = LocalBackend(2)
        try:
            big = b"x" * 4_000_000

            def echo(data: bytes) -> bytes:
                print("y" * 1_000_000)
                return data + b"!"

            out, sink = await run(backend, call(echo, big, cwd=tmp_path))
            assert out.state == State.DONE and out.result == big + b"!"
            assert sink.text("stdout") == "y" * 1_000_000 + "\n"
            out, sink = await run(
                backend, shell("head -c 1000000 /dev/zero | tr '\\0' z", tmp_path)
            )
            assert sink.text("stdout") == "z" * 1_000_000
        finally:
            await backend.close()

    in_thread(body)


def test_what_cannot_start_is_an_error_not_an_exception(tmp_path: Path) -> None:
    async def body() -> None:
        backend = LocalBackend(2)
        try:
            lock = threading.Lock()
            sink = Sink()
            out = await backend.run(call(lambda: lock, cwd=tmp_path), sink, sink.started)
            assert out.state == State.ERROR and sink.starts == []
            assert (out.message or "").startswith("cannot pickle the callable: TypeError")
            assert sink.text("stderr") == ""  # the runner adds the message, once

            def broken_sink(stream: str, text: str) -> None:
                raise RuntimeError("sink down")

            out = await backend.run(shell("echo hi", tmp_path), broken_sink, lambda: None)
            assert out.state == State.WORKER_ERROR and "sink down" in (out.message or "")
        finally:
            await backend.close()

    in_thread(body)


def make_tree() -> Serial:
    with Serial(name="made") as root:
        Exec("echo one", name="one")
    return root


def test_a_lazy_generator_returns_a_tree_as_json(tmp_path: Path) -> None:
    async def body() -> None:
        backend = LocalBackend(1)
        try:
            out, _ = await run(backend, call(make_tree, cwd=tmp_path, generates=True))
            assert out.state == State.DONE and out.result == make_tree().to_json()
            out, sink = await run(backend, call(lambda: 42, cwd=tmp_path, generates=True))
            assert out.state == State.ERROR
            assert out.message is not None and "must return a node" in out.message
            assert "must return a node" in sink.text("stderr")
        finally:
            await backend.close()

    in_thread(body)


def test_close_kills_running_jobs_and_workers(tmp_path: Path) -> None:
    async def body() -> None:
        backend = LocalBackend(2)
        shell_task = asyncio.create_task(run(backend, shell("sleep 300", tmp_path)))
        call_task = asyncio.create_task(run(backend, call(time.sleep, 300, cwd=tmp_path)))
        await asyncio.sleep(0.3)
        workers = [w.child.pid for w in backend.pool.workers]
        await backend.close()
        (out_sh, _), (out_call, _) = await asyncio.gather(shell_task, call_task)
        assert (out_sh.state, out_sh.exit_code) == (State.ERROR, -15)
        assert out_call.state == State.WORKER_ERROR
        assert workers and all(is_gone(p) for p in workers)
        out = await backend.run(shell("true", tmp_path), Sink(), lambda: None)
        assert out.state == State.WORKER_ERROR  # closed

    in_thread(body)


def test_works_from_the_main_threads_loop_too(tmp_path: Path) -> None:
    async def body() -> None:
        backend = LocalBackend(2)
        try:
            out, sink = await run(backend, shell("echo hi", tmp_path))
            assert out.state == State.DONE and sink.text("stdout") == "hi\n"
            out, _ = await run(backend, call(add, 20, cwd=tmp_path, y=22))
            assert out.result["sum"] == 42
        finally:
            await backend.close()

    asyncio.run(body())


def test_one_backend_survives_its_loop_being_replaced(tmp_path: Path) -> None:
    backend = LocalBackend(2)

    async def use() -> int:
        out, _ = await run(backend, call(add, 1, cwd=tmp_path))
        assert out.state == State.DONE
        return int(out.result["pid"])

    first = in_thread(use)  # that loop is closed now, its worker still warm
    second = in_thread(use)
    assert first != second and is_gone(first)
    in_thread(backend.close)


def test_a_failing_callable_from_a_cell_shows_the_cells_own_lines(tmp_path: Path) -> None:
    build_report = cell_function(FAILING_CELL, "build_report")

    async def body() -> None:
        backend = LocalBackend(1)
        try:
            out, sink = await run(backend, call(build_report, 21, cwd=tmp_path))
        finally:
            await backend.close()
        assert out.state == State.ERROR
        err = sink.text("stderr")
        assert 'File "/tmp/ipykernel_0/cell-7.py", line 3, in build_report' in err, err
        assert "raise ValueError(f'bad total {total}')" in err
        assert "<dynamic-code>" not in err

    in_thread(body)


GUARDED_EXIT = """
import atexit, subprocess, threading
done = threading.Event()
atexit.register(done.wait, 60)  # registered first, so it runs after the guard's own close
from conducto_nb.backends import guard
jobs = [subprocess.Popen(["sleep", "300"], start_new_session=True) for _ in range(2)]
for job in jobs:
    guard.watch(job.pid, 5)
guard_pid = guard._guard.pid

def guard_alive():
    try:
        with open(f"/proc/{guard_pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False

def reap():  # as the backend's loop thread does: reap a job, then tell the guard it ended
    for job in jobs:
        job.wait()
        alive = guard_alive()
        guard.forget(job.pid)
        print(job.returncode, alive, flush=True)
    done.set()

threading.Thread(target=reap, daemon=True).start()
"""


def test_jobs_ended_at_exit_are_reaped_while_the_guard_waits_for_them() -> None:
    """At exit the guard SIGTERMs what is left and waits until it is gone; the owner must go on
    reaping meanwhile. (It did not: reaping the first job waited for the guard's exit, so the
    second stayed a zombie the guard took for alive until its grace ran out: 12 s at the end
    of every script that ran a Python callable.)"""
    ended = subprocess.run(
        [sys.executable, "-c", GUARDED_EXIT], capture_output=True, text=True, check=True
    )
    assert ended.stdout.split("\n")[:2] == ["-15 True", "-15 True"], ended.stdout + ended.stderr


NOTHING_LEFT_AT_EXIT = """
import atexit, os, subprocess
seen = {}
atexit.register(lambda: print(seen["guard"].returncode, seen["lock"].exists()))  # runs last
from conducto_nb.backends import guard
job = subprocess.Popen(["true"], start_new_session=True)
guard.watch(job.pid, 5)
job.wait()
guard.forget(job.pid)
seen.update(guard=guard._guard, lock=guard.lock_path(os.getpid()))
"""


def test_an_exit_with_no_job_left_does_not_wait_for_the_guard() -> None:
    """Every job ended before the script did: its exit does not wait for the guard (which
    has nothing to end, and exits on its own); the guard's lock file is gone."""
    ended = subprocess.run(
        [sys.executable, "-c", NOTHING_LEFT_AT_EXIT], capture_output=True, text=True, check=True
    )
    assert ended.stdout.split() == ["None", "False"], ended.stdout + ended.stderr


GUARD_KILLED_BY_HAND = """
import os, signal, subprocess
from conducto_nb.backends import guard
quiet = dict(start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
first = subprocess.Popen(["sleep", "300"], **quiet)
guard.watch(first.pid, 1)
old = guard._guard
old.kill()  # someone kills the guard by hand
old.wait()
second = subprocess.Popen(["sleep", "300"], **quiet)
guard.watch(second.pid, 1)
print(first.pid, second.pid, guard._guard.pid != old.pid, flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # then the owner dies, with no atexit
"""


def test_a_guard_killed_by_hand_is_replaced_by_one_that_knows_every_job() -> None:
    """The next watch starts a new guard and tells it every job still running, the ones the
    dead guard knew included: the owner's death then ends them all."""
    ended = subprocess.run(
        [sys.executable, "-c", GUARD_KILLED_BY_HAND], capture_output=True, text=True
    )
    first, second, replaced = ended.stdout.split()
    assert replaced == "True", ended.stdout + ended.stderr
    wait_for(
        lambda: is_gone(int(first)) and is_gone(int(second)), timeout=60, what="both jobs ended"
    )


def test_a_worker_runs_a_plain_callable_without_importing_the_package(tmp_path: Path) -> None:
    """A worker starts without `import conducto_nb` (its __init__ imports the whole API: a
    notebook's first callable waited for it); a callable that needs the package imports it.
    (Both functions are local, so they travel by value, not by importing this module.)"""

    def package_imported() -> bool:
        import sys

        return "conducto_nb" in sys.modules

    def with_package() -> bool:
        import conducto_nb  # noqa: F401

        return package_imported()

    async def body() -> None:
        backend = LocalBackend(1)
        try:
            out, _ = await run(backend, call(package_imported, cwd=tmp_path))
            assert (out.state, out.result) == (State.DONE, False)
            out, _ = await run(backend, call(with_package, cwd=tmp_path))
            assert (out.state, out.result) == (State.DONE, True)
        finally:
            await backend.close()

    in_thread(body)
