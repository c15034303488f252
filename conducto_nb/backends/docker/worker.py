"""A warm container and the protocol of the worker inside it.

The container's main process is `sh -s` (POSIX: busybox and Debian alike) under Docker's init,
its stdin, stdout and stderr attached to ONE hijacked socket kept for the container's life. The
shell is the worker: for each job the backend writes a short script to its stdin, which runs
the command in a forked subshell with the node's env (`( export K=V...; exec sh -c CMD )
</dev/null &`: a fork and one exec; `$$`, `$0` and syntax errors are the command's own, as in
`docker run IMAGE sh -c CMD`), reports its pid, waits, stops what it left behind, reads the
cgroup's `oom_kill` counter (shell builtins only) and prints an end line — a per-job random
marker, the exit code and the OOM kills during the job — on BOTH stdout and stderr: the daemon
copies the two pipes independently, so each needs its own end. A job thus costs about a fork in the
container, not a `docker exec` (~40 ms) or a `docker run` (~250 ms).

A container runs one job at a time, so every process in it but its init, the worker shell and
its warm Python belongs to the running job: what a job leaves behind is stopped with `kill -TERM
-1` (which spares the caller and init), and a kill (cancellation, max_time) is one `docker exec`
(rare path) that signals all of them but those, SIGTERM then SIGKILL after GRACE. The container
lives on and takes the next job.

The socket carries Docker's multiplexed frames (8-byte header: stream, 0, 0, 0, length); they
are parsed by an asyncio Protocol on the loop: no thread per job, no polling. A Python callable
goes to the container's warm Python, which the shell starts at the first callable and which
forks a child per call (boot.py, script.py); the kill spares it, as `kill -TERM
-1` does (it ignores SIGTERM). When our end of the socket closes, the shell reads EOF and exits,
and the container removes itself (auto_remove): a dying kernel leaves no idle containers behind.
"""

from __future__ import annotations

import asyncio
import base64
import codecs
import contextlib
import secrets
import socket
import struct
from collections.abc import Callable
from pathlib import Path

from ...model.states import State
from ..base import Job, Outcome, OutputSink
from .daemon import Daemon
from .script import KILL_ALL, init_script, job_script

__all__ = ["GRACE", "Container", "JobRun"]

#: Seconds between SIGTERM and SIGKILL when a job is killed, and after SIGKILL before the
#: container is given up as wedged.
GRACE = 1.5
_FRAME = struct.Struct(">BxxxI")
_STREAMS = {1: "stdout", 2: "stderr"}


class _Stream:
    """One stream of one job: passes output through (decoded incrementally) and picks out the
    control lines that start with the job's marker, wherever they appear."""

    def __init__(self, run: JobRun, name: str) -> None:
        self.run, self.name = run, name
        self.buffer = bytearray()
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.ended = False

    def feed(self, data: bytes) -> None:
        mark = self.run.mark
        self.buffer += data
        while not self.ended:
            at = self.buffer.find(mark)
            if at < 0:
                keep = _partial_suffix(self.buffer, mark)
                self._emit(bytes(self.buffer[: len(self.buffer) - keep]))
                del self.buffer[: len(self.buffer) - keep]
                return
            line_end = self.buffer.find(b"\n", at)
            self._emit(bytes(self.buffer[:at]))
            if line_end < 0:
                del self.buffer[:at]
                return
            line = bytes(self.buffer[at + len(mark) : line_end]).split()
            del self.buffer[: line_end + 1]
            self.run.control(self, line)

    def _emit(self, data: bytes, final: bool = False) -> None:
        text = self.decoder.decode(data, final)
        if text:
            self.run.emit(self.name, text)

    def end(self) -> None:
        self.ended = True
        self._emit(b"", final=True)

    def flush(self) -> None:
        """The stream stops for good: what it held back is output after all."""
        self._emit(bytes(self.buffer))
        self.buffer.clear()
        self.end()


def _partial_suffix(buffer: bytearray, mark: bytes) -> int:
    """How many bytes at the end of `buffer` could be the start of `mark`."""
    for size in range(min(len(buffer), len(mark) - 1), 0, -1):
        if buffer.endswith(mark[:size]):
            return size
    return 0


class JobRun:
    """What one job's run has reported so far; `done` resolves at its two end lines, or when
    the container is lost."""

    def __init__(self, output: OutputSink) -> None:
        self.mark = f"@@co{secrets.token_hex(10)}@@".encode()
        self.output: OutputSink | None = output
        self.streams = {1: _Stream(self, "stdout"), 2: _Stream(self, "stderr")}
        loop = asyncio.get_running_loop()
        # The job's pid and those the kill spares: the worker shell's, its warm Python's.
        self.pid: asyncio.Future[tuple[int, tuple[int, ...]]] = loop.create_future()
        self.done: asyncio.Future[None] = loop.create_future()
        self.code: int | None = None
        self.oom_kills = 0
        self.result: bytes | None = None
        self.shown: str | None = None
        self.message: str | None = None
        self.sink_error: BaseException | None = None
        self.lost: str | None = None  # why the container went away mid-job

    def emit(self, stream: str, text: str) -> None:
        if self.output is not None:
            try:
                self.output(stream, text)
            except Exception as e:  # a broken sink must not break the socket's reader
                self.sink_error = self.sink_error or e

    def control(self, stream: _Stream, words: list[bytes]) -> None:
        kind, args = (words[0], words[1:]) if words else (b"", [])
        if kind == b"P" and len(args) >= 2 and not self.pid.done():
            self.pid.set_result((int(args[0]), tuple(int(a) for a in args[1:])))
        elif kind == b"R" and args:
            self.result = base64.b64decode(args[0])
        elif kind in (b"S", b"M") and args:
            text = base64.b64decode(args[0]).decode("utf-8", "replace")
            self.shown, self.message = (text, self.message) if kind == b"S" else (self.shown, text)
        elif kind == b"E" and len(args) == 2:
            self.code, self.oom_kills = int(args[0]), int(args[1])
            stream.end()
            if all(s.ended for s in self.streams.values()) and not self.done.done():
                self.done.set_result(None)

    def feed(self, stream: int, data: bytes) -> None:
        if stream in self.streams:
            self.streams[stream].feed(data)

    def lose(self, why: str) -> None:
        self.lost = why
        for stream in self.streams.values():
            if not stream.ended:
                stream.flush()
        if not self.done.done():
            self.done.set_result(None)

    def close(self) -> None:
        self.output = None


class _Channel(asyncio.Protocol):
    """Reads Docker's multiplexed frames off the attach socket and hands them on."""

    def __init__(self, container: Container) -> None:
        self.container = container
        self.buffer = bytearray()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        header = _FRAME.size
        while len(self.buffer) >= header:
            stream, size = _FRAME.unpack_from(self.buffer)
            if len(self.buffer) < header + size:
                break
            payload = bytes(self.buffer[header : header + size])
            del self.buffer[: header + size]
            self.container.received(stream, payload)

    def connection_lost(self, exc: Exception | None) -> None:
        self.container.ended(f"{type(exc).__name__}: {exc}" if exc else "")


class Container:
    """One warm container running jobs one at a time; `on_end(container)` is called once when
    it is gone (removed, crashed, or its daemon stopped)."""

    def __init__(self, daemon: Daemon, cid: str, on_end: Callable[[Container], None]) -> None:
        self.daemon, self.id, self.on_end = daemon, cid, on_end
        self.transport: asyncio.Transport | None = None
        self.current: JobRun | None = None
        self.gone = asyncio.get_running_loop().create_future()
        self.broken = False  # a job could not be stopped: never give it another

    @property
    def short(self) -> str:
        return self.id[:12]

    @property
    def alive(self) -> bool:
        return not self.gone.done() and not self.broken

    async def connect(self, sock: socket.socket, setup: str = "") -> None:
        """Read the container's socket on this loop and set its worker shell up."""
        loop = asyncio.get_running_loop()
        transport, _ = await loop.connect_accepted_socket(lambda: _Channel(self), sock)
        self.transport = transport
        transport.write((init_script(self.short) + setup).encode())

    def received(self, stream: int, data: bytes) -> None:
        if self.current is not None:
            self.current.feed(stream, data)

    def ended(self, why: str) -> None:
        if self.gone.done():
            return
        self.gone.set_result(None)
        if self.current is not None:
            self.current.lose(why or "its stream ended")
        self.on_end(self)

    def detach(self) -> None:
        """Close our end: the worker shell reads EOF, exits, and the container goes."""
        if self.transport is not None:
            self.transport.close()

    async def run(self, job: Job, output: OutputSink, started: Callable[[], None]) -> JobRun:
        """Run one job to its end lines (or the container's end). On cancellation, stop the
        job's process group (SIGTERM, SIGKILL after GRACE) before re-raising."""
        assert self.transport is not None and self.current is None
        run = JobRun(output)
        self.current = run
        try:
            if self.gone.done():
                run.lose("the container was gone before the job")
            else:
                self.transport.write(job_script(run.mark.decode(), job))
                started()
            try:
                await asyncio.shield(run.done)
            except asyncio.CancelledError:
                await self._stop(run)
                raise
        finally:
            run.close()
            self.current = None
        return run

    async def _stop(self, run: JobRun) -> None:
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(run.pid), GRACE)
            for signal in ("TERM", "KILL"):
                if run.done.done() or not run.pid.done():
                    break
                spared = "|".join(str(pid) for pid in run.pid.result()[1])
                kill = KILL_ALL.format(signal=signal, worker=spared)
                with contextlib.suppress(Exception):
                    await self.daemon.exec(self.id, ["sh", "-c", kill])
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(run.done), GRACE)
        except asyncio.CancelledError:  # cancelled again: do not wait any longer
            self.broken = True
            raise
        finally:
            if not run.done.done():
                self.broken = True

    async def probe(self, script: str) -> tuple[int | None, str]:
        """Run a shell snippet as an internal job: its exit code and stdout."""
        from ...model.execs import Command

        out: list[str] = []
        job = Job("", "", 0, Command.of_shell(script), {}, Path("."))
        run = await self.run(job, lambda s, t: out.append(t) if s == "stdout" else None, _nothing)
        return (None if run.lost else run.code), "".join(out)


def _nothing() -> None:
    pass


def outcome_of(run: JobRun, mem: float) -> Outcome:
    """The Outcome a finished JobRun stands for (not for a lost container: the caller asks the
    daemon why first)."""
    if run.sink_error is not None:
        return Outcome(State.WORKER_ERROR, message=f"the output sink failed: {run.sink_error!r}")
    code = run.code
    if code == 0:
        result = None
        if run.result is not None:
            try:
                import pickle

                result = pickle.loads(run.result)
            except Exception as e:
                result = f"<the result cannot be unpickled here: {type(e).__name__}: {e}>"
        shown = result if run.result is not None else run.shown
        note = None
        if run.oom_kills:  # the command survived it, but should know
            note = f"a process of this job ran out of memory and was killed (mem={mem:g} GB)"
        return Outcome(State.DONE, 0, note, shown)
    if run.oom_kills:
        return Outcome(State.ERROR, code, f"out of memory (mem={mem:g} GB)")
    return Outcome(State.ERROR, code, run.message)
