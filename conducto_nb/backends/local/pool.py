"""The warm worker processes of the local backend, which run Python callables: each is a
worker.py process that takes one pickled call after another from its control socket, and
the pool hands them to jobs (an idle one, a new one, or a wait in order) within its size.
"""

from __future__ import annotations

import asyncio
import os
import pickle
import socket
import struct
import sys
from collections import deque
from pathlib import Path

from ...model.states import State
from ..base import Job, Outcome, OutputSink
from .process import Child, Streams, describe_exit

__all__ = ["Pool"]

_HEADER = struct.Struct("!I")
_PACKAGE_PARENT = str(Path(__file__).resolve().parents[3])
# worker.py is loaded by its path, not as conducto_nb.backends.local.worker: importing the
# package first (its __init__ imports the whole API) made a worker's start ~70 ms slower, felt
# by a notebook's first callable. The package stays importable (a Lazy node's tree needs it).
_WORKER = str(Path(__file__).resolve().with_name("worker.py"))
_BOOT = (
    f"import sys; sys.path.insert(0, {_PACKAGE_PARENT!r}); import importlib.util as u; "
    f"s = u.spec_from_file_location('conducto_nb_local_worker', {_WORKER!r}); "
    "m = sys.modules[s.name] = u.module_from_spec(s); s.loader.exec_module(m); "
    "m.main(int(sys.argv[1]))"
)


def _absolute(entry: str) -> str:
    """A sys.path entry that means the same in a worker, whose cwd changes with each job."""
    if entry == "" or (not os.path.isabs(entry) and os.path.exists(entry)):
        return os.path.abspath(entry)
    return entry  # absolute, or not a directory (an import hook's key)


class _Worker:
    """A warm Python process (worker.py) that runs callables one after another."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.loop = asyncio.get_running_loop()
        self.call: Streams | None = None
        self.answer: asyncio.Future[Outcome] | None = None
        self.sent_path: list[str] | None = None
        self._buffer = bytearray()
        self._unsent = memoryview(b"")
        ours, theirs = socket.socketpair()
        try:
            argv = [sys.executable, "-c", _BOOT, str(theirs.fileno())]
            self.child = Child(argv, self._on_output, pass_fds=[theirs.fileno()])
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
        wanted = [*self.pool.first, *sys.path] if self.pool.first else sys.path
        if wanted != self.sent_path:
            self.sent_path = list(wanted)
            path = [_absolute(p) for p in self.sent_path]
        request = (path, payload, job.env, str(job.cwd), job.generates)
        data = pickle.dumps(request, pickle.HIGHEST_PROTOCOL)
        self.call = Streams(output)
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


class Pool:
    """Warm workers, at most `size`: jobs take an idle one, start one, or wait in order.
    `first`: folders each call finds before this process's sys.path (an image's venv)."""

    def __init__(self, size: int, first: tuple[str, ...] = ()) -> None:
        self.size = size
        self.first = first
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
