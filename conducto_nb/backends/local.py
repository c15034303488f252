"""The local backend, the embedded default where no Docker daemon answers (Binder, a laptop):
shell commands run as subprocesses, Python callables in warm worker processes.

Every process runs in its own session, so a kill reaches everything it started: SIGTERM to the
whole process group, SIGKILL after `GRACE` seconds. When a command exits, what it left running
in its group is stopped the same way (as a container would stop it), so its pipes close and
the job ends. Processes are watched from the event loop itself (a pidfd per process, pipes read
with `add_reader`), not by asyncio's child watcher: no thread per job, the cost of a job is
about that of its fork and exec, and it works from any thread's loop.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import math
import os
import pickle
import signal
import socket
import struct
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path

from ..states import State
from .base import Backend, Job, Outcome, OutputSink
from .cpu_budget import CpuBudget

__all__ = ["GRACE", "LocalBackend"]

#: Seconds between SIGTERM and SIGKILL when a job is killed.
GRACE = 1.5
_HEADER = struct.Struct("!I")
_READ = 1 << 16
_PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])
_BOOT = (
    f"import sys; sys.path.insert(0, {_PACKAGE_PARENT!r}); "
    "from conducto_nb.backends.local_worker import main; main(int(sys.argv[1]))"
)


def describe_exit(code: int | None) -> str:
    """`code` as Popen gives it (negative: a signal), in words."""
    if code is None:
        return "ended with an unknown status (its exit status was reaped elsewhere)"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"was killed by {name}" + (" (out of memory?)" if -code == signal.SIGKILL else "")
    return f"exited with code {code}"


def _absolute(entry: str) -> str:
    """A sys.path entry that means the same in a worker, whose cwd changes with each job."""
    if entry == "" or (not os.path.isabs(entry) and os.path.exists(entry)):
        return os.path.abspath(entry)
    return entry  # absolute, or not a directory (an import hook's key)


class _Streams:
    """Decodes one job's stdout and stderr incrementally (a character split across reads is
    kept whole) and hands the text to the job's sink; after `close()` it drops everything."""

    def __init__(self, output: OutputSink) -> None:
        self.output: OutputSink | None = output
        self.decoders: dict[str, codecs.IncrementalDecoder] = {}
        self.error: BaseException | None = None

    def feed(self, stream: str, data: bytes) -> None:
        decoder = self.decoders.get(stream)
        if decoder is None:
            decoder = self.decoders[stream] = codecs.getincrementaldecoder("utf-8")("replace")
        self._emit(stream, decoder.decode(data))

    def _emit(self, stream: str, text: str) -> None:
        if text and self.output is not None:
            try:
                self.output(stream, text)
            except Exception as e:  # a broken sink must not break the event loop's reader
                self.error = self.error or e

    def close(self) -> None:
        for stream, decoder in self.decoders.items():
            self._emit(stream, decoder.decode(b"", True))
        self.output = None


def _discard(stream: str, data: bytes) -> None:
    pass


class _Child:
    """A process in its own session, watched by the loop: a pidfd says when it exits, its
    stdout and stderr are pipes given to `sink(stream, bytes)`. `finished` resolves once it
    has exited and its pipes are closed."""

    def __init__(
        self,
        argv: Sequence[str],
        sink: Callable[[str, bytes], None],
        *,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        pass_fds: Sequence[int] = (),
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.sink = sink
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            self.popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out_w,
                stderr=err_w,
                cwd=cwd,
                env=env,
                start_new_session=True,
                pass_fds=pass_fds,
            )
        except BaseException:
            os.close(out_r)
            os.close(err_r)
            raise
        finally:
            os.close(out_w)
            os.close(err_w)
        self.pid = self.popen.pid
        self.returncode: int | None = None
        self.exited: asyncio.Future[int | None] = self.loop.create_future()
        self.finished: asyncio.Future[None] = self.loop.create_future()
        self._pipes = {out_r: "stdout", err_r: "stderr"}
        self._timer: asyncio.TimerHandle | None = None
        self._sweep = False  # killed on purpose: SIGKILL the group once finished
        for fd in self._pipes:
            os.set_blocking(fd, False)
            self.loop.add_reader(fd, self._read, fd)
        self._pidfd = -1
        try:
            self._pidfd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):  # no pidfd (old kernel): one waiting thread instead
            threading.Thread(target=self._wait_in_thread, daemon=True).start()
        else:
            self.loop.add_reader(self._pidfd, self._reap)

    # -- exit ---------------------------------------------------------------------------
    def _reap(self) -> None:
        # A pidfd is readable once the process has exited. Signal the group before reaping it:
        # the group's id cannot be reused while its leader is an unreaped zombie.
        self.signal(signal.SIGTERM)  # what the command left running (usually nothing)
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            pid, status = self.pid, -1
        if pid == 0:
            return
        self.loop.remove_reader(self._pidfd)
        os.close(self._pidfd)
        self._exited(os.waitstatus_to_exitcode(status) if status != -1 else None)

    def _wait_in_thread(self) -> None:
        try:
            code: int | None = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
        except ChildProcessError:
            code = None
        with contextlib.suppress(RuntimeError):  # RuntimeError: the loop is closed
            self.loop.call_soon_threadsafe(self._exited_from_thread, code)

    def _exited_from_thread(self, code: int | None) -> None:
        self.signal(signal.SIGTERM)
        self._exited(code)

    def _exited(self, code: int | None) -> None:
        self.returncode = code
        self.popen.returncode = -255 if code is None else code  # so Popen never reaps it
        if self.exited.done():  # abandoned earlier
            return
        self.exited.set_result(code)
        if self._pipes and self._timer is None:  # leftovers hold the pipes: they got SIGTERM
            self._set_timer(self.kill)
        self._maybe_finish()

    # -- output -------------------------------------------------------------------------
    def _read(self, fd: int) -> bool:
        try:
            data = os.read(fd, _READ)
        except BlockingIOError:
            return False
        except OSError:
            data = b""
        if data:
            self.sink(self._pipes[fd], data)
            return True
        self._close_pipe(fd)
        return False

    def drain(self) -> None:
        """Read what the pipes hold now: all the process wrote before its last message."""
        for fd in list(self._pipes):
            for _ in range(64):
                if not self._read(fd):
                    break

    def _close_pipe(self, fd: int) -> None:
        self.loop.remove_reader(fd)
        os.close(fd)
        del self._pipes[fd]
        self._maybe_finish()

    def _maybe_finish(self) -> None:
        if self._pipes or not self.exited.done() or self.finished.done():
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._sweep:
            self.signal(signal.SIGKILL)  # whatever ignored SIGTERM without holding a pipe
        self.sink = _discard
        self.finished.set_result(None)

    # -- stopping -----------------------------------------------------------------------
    def signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    def terminate(self) -> None:
        """SIGTERM to the whole group, SIGKILL `GRACE` seconds later if it is not finished."""
        if self.finished.done() or self._sweep:
            return
        self._sweep = True
        self.signal(signal.SIGTERM)
        self._set_timer(self.kill)

    def kill(self) -> None:
        """SIGKILL to the whole group; stop waiting for it `GRACE` seconds later."""
        if not self.finished.done():
            self._sweep = True
            self.signal(signal.SIGKILL)
            self._set_timer(self._abandon)

    def _set_timer(self, callback: Callable[[], None]) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.loop.call_later(GRACE, callback)

    def _abandon(self) -> None:
        """Killed and still not finished: something outside the group holds the pipes, or
        the leader is stuck in the kernel. Stop waiting; the pidfd still reaps it later."""
        self._timer = None
        for fd in list(self._pipes):
            self.loop.remove_reader(fd)
            os.close(fd)
        self._pipes.clear()
        if not self.exited.done():
            self.exited.set_result(None)
        self._maybe_finish()

    def orphan(self) -> None:
        """Its loop is gone: kill it and clean up without one (blocking, but only for the
        moment a SIGKILLed process takes to exit)."""
        self.signal(signal.SIGKILL)
        if self.popen.returncode is None:
            with contextlib.suppress(ChildProcessError):
                self.popen.returncode = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
        if self.loop.is_closed():  # else that loop still owns the fds and closes them itself
            for fd in [*self._pipes, self._pidfd]:
                with contextlib.suppress(OSError):
                    os.close(fd)
            self._pipes.clear()

    async def stop(self) -> None:
        """Terminate and wait until finished; a second cancellation kills at once."""
        self.terminate()
        try:
            await asyncio.shield(self.finished)
        except asyncio.CancelledError:
            self.kill()
            raise


class _Worker:
    """A warm Python process (local_worker.py) that runs callables one after another."""

    def __init__(self, pool: _Pool) -> None:
        self.pool = pool
        self.loop = asyncio.get_running_loop()
        self.call: _Streams | None = None
        self.answer: asyncio.Future[Outcome] | None = None
        self.sent_path: list[str] | None = None
        self._buffer = bytearray()
        self._unsent = memoryview(b"")
        ours, theirs = socket.socketpair()
        try:
            argv = [sys.executable, "-c", _BOOT, str(theirs.fileno())]
            self.child = _Child(argv, self._on_output, pass_fds=[theirs.fileno()])
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        ours.setblocking(False)
        self.sock = ours
        self.fd = ours.fileno()
        self.loop.add_reader(self.fd, self._on_readable)
        self.child.exited.add_done_callback(self._on_exit)

    @property
    def alive(self) -> bool:
        return not self.child.exited.done()

    def orphan(self) -> None:
        self.child.orphan()
        if self.loop.is_closed() and self.fd >= 0:
            self.sock.close()
            self.fd = -1

    async def run(self, job: Job, payload: bytes, output: OutputSink) -> Outcome:
        if not self.alive:
            return Outcome(State.WORKER_ERROR, message="the worker process died before the job")
        path = None
        if sys.path != self.sent_path:
            self.sent_path = list(sys.path)
            path = [_absolute(p) for p in self.sent_path]
        request = (path, payload, job.env, str(job.cwd), job.generates)
        data = pickle.dumps(request, pickle.HIGHEST_PROTOCOL)
        self.call = _Streams(output)
        self.answer = self.loop.create_future()
        self._send(_HEADER.pack(len(data)) + data)
        try:
            outcome = await self.answer
        finally:
            self.call.close()
            error, self.call, self.answer = self.call.error, None, None
        if error is not None:
            return Outcome(State.WORKER_ERROR, message=f"the output sink failed: {error!r}")
        return outcome

    async def stop(self) -> None:
        await self.child.stop()

    def _on_output(self, stream: str, data: bytes) -> None:
        if self.call is not None:
            self.call.feed(stream, data)

    def _send(self, data: bytes) -> None:
        try:
            sent = self.sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            return  # it died: its exit answers the job
        if sent < len(data):
            self._unsent = memoryview(data)[sent:]
            self.loop.add_writer(self.fd, self._send_more)

    def _send_more(self) -> None:
        try:
            sent = self.sock.send(self._unsent)
        except BlockingIOError:
            return
        except OSError:
            sent = len(self._unsent)
        self._unsent = self._unsent[sent:]
        if not self._unsent:
            self.loop.remove_writer(self.fd)

    def _on_readable(self) -> None:
        while True:
            try:
                data = self.sock.recv(1 << 18)
            except BlockingIOError:
                break
            except OSError:
                data = b""
            if not data:
                self.loop.remove_reader(self.fd)  # it died; its exit status follows
                break
            self._buffer += data
        while len(self._buffer) >= _HEADER.size:
            (size,) = _HEADER.unpack_from(self._buffer)
            end = _HEADER.size + size
            if len(self._buffer) < end:
                break
            frame = bytes(self._buffer[_HEADER.size : end])
            del self._buffer[:end]
            self._answered(frame)

    def _answered(self, frame: bytes) -> None:
        if self.answer is None or self.answer.done():
            return
        self.child.drain()  # what the call printed is in the pipes by now
        code, message, result, shown = pickle.loads(frame)
        if result is not None:
            try:
                shown = pickle.loads(result)
            except Exception as e:
                shown = f"<the result cannot be unpickled here: {type(e).__name__}: {e}>"
        state = State.DONE if code == 0 else State.ERROR
        self.answer.set_result(Outcome(state, code, message, shown))

    def _on_exit(self, exited: asyncio.Future[int | None]) -> None:
        if self.fd >= 0:
            self._on_readable()  # an answer sent just before dying still counts
            self.loop.remove_reader(self.fd)
            self.loop.remove_writer(self.fd)
            self.sock.close()
            self.fd = -1
        self.child.drain()
        if self.answer is not None and not self.answer.done():
            how = describe_exit(exited.result())
            message = f"the worker process running the callable {how}"
            self.answer.set_result(Outcome(State.WORKER_ERROR, message=message))
        self.pool.forget(self)


class _Pool:
    """Warm workers, at most `size`: jobs take an idle one, start one, or wait in order."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.workers: set[_Worker] = set()
        self.idle: list[_Worker] = []
        self.starting = 0
        self.closed = False
        self.waiters: deque[asyncio.Future[_Worker | None]] = deque()

    async def take(self) -> _Worker:
        while self.idle:
            worker = self.idle.pop()
            if worker.alive:
                return worker
        if len(self.workers) + self.starting < self.size:
            return self._start()
        fut: asyncio.Future[_Worker | None] = asyncio.get_running_loop().create_future()
        self.waiters.append(fut)
        try:
            got = await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                handed = fut.result()
                if handed is None:  # a slot to start one: pass it on
                    self.starting -= 1
                self._hand_back(handed)
            else:
                self.waiters.remove(fut)
            raise
        return got if got is not None else self._start(reserved=True)

    def _start(self, reserved: bool = False) -> _Worker:
        """A new worker; `reserved`: its slot was handed over by `_hand_slot`."""
        if reserved:
            self.starting -= 1
        try:
            if self.closed:
                raise OSError("the local backend is closed")
            worker = _Worker(self)
        except BaseException:
            self._hand_slot()
            raise
        self.workers.add(worker)
        return worker

    def give_back(self, worker: _Worker) -> None:
        if worker.alive and worker in self.workers:
            self._hand_back(worker)

    def _hand_back(self, worker: _Worker | None) -> None:
        if worker is None:  # a slot to start one
            self._hand_slot()
            return
        while self.waiters:
            fut = self.waiters.popleft()
            if not fut.done():
                fut.set_result(worker)
                return
        self.idle.append(worker)

    def _hand_slot(self) -> None:
        while self.waiters and len(self.workers) + self.starting < self.size:
            fut = self.waiters.popleft()
            if not fut.done():
                self.starting += 1
                fut.set_result(None)

    def forget(self, worker: _Worker) -> None:
        if worker in self.workers:
            self.workers.discard(worker)
            if worker in self.idle:
                self.idle.remove(worker)
            self._hand_slot()


class LocalBackend(Backend):
    """Runs jobs as local processes within a budget of CPUs (default: all of them)."""

    name = "local"

    def __init__(self, cpu_budget: float | None = None) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._start_afresh(cpu_budget if cpu_budget is not None else os.cpu_count() or 1)

    def _start_afresh(self, cpu_budget: float) -> None:
        self.budget = CpuBudget(cpu_budget)
        self.pool = _Pool(max(1, math.ceil(self.budget.total)))
        self._children: set[_Child] = set()

    async def open(self) -> None:
        self._on_this_loop()
        self.pool.closed = False

    def _on_this_loop(self) -> None:
        """Everything here is bound to one event loop. Should the caller move to a new one (the
        old one closed), start afresh instead of waiting on a loop that no longer runs."""
        loop = asyncio.get_running_loop()
        if loop is self._loop:
            return
        if self._loop is not None:
            for worker in self.pool.workers:
                worker.orphan()
            for child in self._children:
                child.orphan()
            closed = self.pool.closed
            self._start_afresh(self.budget.total)
            self.pool.closed = closed
        self._loop = loop

    def honours_images(self) -> bool:
        return False

    async def run(self, job: Job, output: OutputSink, started: Callable[[], None]) -> Outcome:
        self._on_this_loop()
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
        streams = _Streams(output)
        try:
            Path(job.cwd).mkdir(parents=True, exist_ok=True)
            env = {**os.environ, **job.env} if job.env else None
            child = _Child(["/bin/sh", "-c", job.command.shell], streams.feed, cwd=job.cwd, env=env)
        except OSError as e:
            return _cannot("start the command", e, output)
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
            return _cannot("pickle the callable", e, output)
        try:
            Path(job.cwd).mkdir(parents=True, exist_ok=True)
        except OSError as e:
            return _cannot("create the working directory", e, output)
        try:
            worker = await self.pool.take()
        except OSError as e:
            return Outcome(State.WORKER_ERROR, message=f"cannot start a worker process: {e}")
        try:
            started()
            outcome = await worker.run(job, payload, output)
        except BaseException:
            await worker.stop()
            raise
        self.pool.give_back(worker)
        return outcome

    async def close(self) -> None:
        """Kill every job and worker (SIGTERM, then SIGKILL) and wait until they are gone."""
        self._on_this_loop()
        self.pool.closed = True
        children = [*self._children, *(w.child for w in self.pool.workers)]
        for child in children:
            child.terminate()
        if children:
            await asyncio.gather(*(asyncio.shield(c.finished) for c in children))


def _cannot(what: str, error: Exception, output: OutputSink) -> Outcome:
    """A job that could not start: an ERROR whose reason is also in its stderr."""
    output("stderr", f"cannot {what}: {type(error).__name__}: {error}\n")
    return Outcome(State.ERROR, message=f"cannot {what}: {error}")
