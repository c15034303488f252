"""One local process watched from the event loop, the ground under both kinds of local job (a
shell command, a warm callable worker): its own session so a kill reaches its whole group, a
pidfd that says when it exits, stdout and stderr read with `add_reader` and decoded
incrementally; its group dies with this process, whatever kills it (../guard.py). No thread per
process, and it works from any thread's loop.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from .. import guard
from ..base import OutputSink

__all__ = ["GRACE", "Child", "Streams", "describe_exit"]

#: Seconds between SIGTERM and SIGKILL when a job is killed.
GRACE = 1.5
_READ = 1 << 16


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


class Streams:
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


class Child:
    """A process in its own session, watched by the loop: a pidfd says when it exits, its
    stdout and stderr are pipes given to `sink(stream, bytes)`. `finished` resolves once it
    has exited and its pipes are closed."""

    def __init__(
        self,
        argv: Sequence[str],
        sink: Callable[[str, bytes], None],
        *,
        cwd: Path | None = None,
        env: Mapping[str, str] | Mapping[bytes, bytes] | None = None,
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
        guard.watch(self.pid, GRACE)  # its group ends with this process
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
        guard.forget(self.pid)
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
        guard.forget(self.pid)
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
