"""Runs pickled calls inside a container for the Docker backend. Its source is sent to the
container's worker once; it imports only the standard library: the image needs Python and
cloudpickle, not conducto_nb (with a local daemon the backend mounts this package at
PACKAGE_MOUNT, so a Lazy generator can build nodes in any image of the kernel's Python version).

Two ways to run it. `python3 -c "$BOOT" MARKER` runs one call (`main`): stdin carries a line
"C" (a call) or "G" (a Lazy generator: its node's `to_json()` is the result), then the base64
of the cloudpickled `(func, args, kwargs)`. `python3 -u -c "$BOOT" --serve Q A` is the warm
Python of a container (`serve`), started by the worker shell at its first callable job: it has
imported cloudpickle once, reads one request line per job from the fifo Q (already open as fd
8) — `MARKER KIND ENV PAYLOAD`, ENV the base64 of the job's env as JSON — and hands it to a
child it forked ahead (while the shell was busy reporting the previous job), which runs the
call just as `main` would, with the job's env on top of the container's, stdin /dev/null and fd
1 and 2 the container's. The child acknowledges the job on a pipe of its own: a child killed
before it took the job is replaced, not reported as the job's end. On the fifo A (fd 9) the
server answers the pid of the child that took the job (or "-": run this job in a fresh
python3), then, when the child ends, its exit code as `wait` gives it. It and
its waiting child ignore SIGTERM, so the `kill -TERM -1` that ends a pooled job spares them;
the kill of a job spares the server, and a waiting child it kills is replaced.

Either way what the call prints goes to fd 1 and 2 as it is printed; then, after both are
flushed, one control line on stdout: `MARKER R <base64 pickle>` (the result), `MARKER S <base64
text>` (the repr of a result that cannot be pickled) or `MARKER M <base64 text>` (why the call
could not run). The exit code is the call's: 0, 1 for an exception (its traceback on stderr),
or what it passed to sys.exit.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import gc
import io
import json
import os
import pickle
import signal
import sys
import traceback
from typing import Any, NoReturn

#: Where the backend mounts this package (read-only) in containers of a local daemon.
PACKAGE_MOUNT = "/opt/conducto_nb"
#: The warm Python's fds: requests in, answers out (the worker shell opens both).
REQUESTS, ANSWERS = 8, 9
#: Variables a Python reads as it starts (which python3, its path, locale, user site...): a
#: job that sets one to another value than the container's runs in a fresh python3.
_STARTUP = ("PATH", "HOME", "LANG", "TZ", "PYTHON", "LC_", "LD_")
#: A child forked ahead: its pid, the pipe its job goes down, the pipe it acknowledges it on.
Spare = tuple[int, int, int]


def _control(mark: str, kind: str, data: bytes) -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os.write(1, f"{mark} {kind} ".encode() + base64.b64encode(data) + b"\n")


def _fail(mark: str, message: str) -> int:
    print(message, file=sys.stderr)
    _control(mark, "M", message.encode())
    return 1


def _repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception as e:
        text = f"<unrepresentable {type(value).__name__}: {e}>"
    return text if len(text) <= 1000 else text[:1000] + "..."


def _result(mark: str, value: Any) -> None:
    if value is None:
        return
    for module in ("pickle", "cloudpickle"):
        try:
            dumps = __import__(module).dumps
            _control(mark, "R", dumps(value, pickle.HIGHEST_PROTOCOL))
            return
        except Exception:
            continue
    _control(mark, "S", _repr(value).encode())


def main(mark: str) -> int:
    """One call read from stdin, in this process."""
    raw = sys.stdin.buffer.read()
    sys.stdin = open(os.devnull)  # noqa: SIM115 - the call's input, for the process's life
    if os.path.isdir(PACKAGE_MOUNT):  # conducto_nb itself, for callables that build nodes
        sys.path.insert(0, PACKAGE_MOUNT)
    return call(mark, raw)


def call(mark: str, raw: bytes) -> int:
    """Run the call `raw` ("C" or "G", a newline, the base64 pickle): its exit code."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(line_buffering=True, errors="backslashreplace")
    kind, _, data = raw.partition(b"\n")
    generates = kind == b"G"
    try:
        func, args, kwargs = pickle.loads(base64.b64decode(data))
    except BaseException as e:
        traceback.print_exc()
        hint = ""
        if isinstance(e, ModuleNotFoundError):
            hint = f" (install {e.name} in the image)"
        return _fail(mark, f"cannot unpickle the callable in the container: {e!r}{hint}")
    try:
        value = func(*args, **kwargs)
    except SystemExit as e:
        if e.code is None or e.code == 0:
            value = None
        elif isinstance(e.code, int):
            return e.code
        else:
            print(e.code, file=sys.stderr)
            return 1
    except BaseException as e:
        tb = e.__traceback__.tb_next if e.__traceback__ else None
        traceback.print_exception(type(e), e, tb)
        return 1
    if generates:
        if not (type(value).__module__.startswith("conducto_nb") and hasattr(value, "to_json")):
            return _fail(
                mark,
                "the Lazy generator must return a node (Serial, Parallel or Exec), not "
                f"{type(value).__name__}: {_repr(value)}",
            )
        value = value.to_json()
    _result(mark, value)
    return 0


# -- the warm Python ---------------------------------------------------------------------------
def serve(*fifos: str) -> int:
    """Run each request in a child of its own until the worker shell closes the fifo."""
    import cloudpickle  # noqa: F401 - the point of a warm Python: imported once

    for path in fifos:  # both ends are open: the names are no longer needed
        with contextlib.suppress(OSError):
            os.unlink(path)
    if os.path.isdir(PACKAGE_MOUNT):
        sys.path.insert(0, PACKAGE_MOUNT)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    requests = open(REQUESTS, "rb", closefd=True)  # noqa: SIM115 - for the server's life
    spare: Spare | None = None
    try:
        while True:
            spare = spare or _fork_ahead(requests)  # the fork is done while no job waits
            line = requests.readline()
            if not line:
                return 0
            pid = 0
            if _servable(json.loads(base64.b64decode(line.split()[2]))):
                pid, spare = _hand(spare, line, requests), None
            os.write(ANSWERS, b"%d\n" % pid if pid else b"-\n")
            if pid:
                os.write(ANSWERS, b"%d\n" % _exit_code(os.waitpid(pid, 0)[1]))
    except OSError:  # the worker shell is gone
        return 0


def _servable(env: dict[str, str]) -> bool:
    return not any(
        key.startswith(_STARTUP) and key != "PYTHONUNBUFFERED" and os.environ.get(key) != value
        for key, value in env.items()
    )


def _fork_ahead(requests: io.BufferedReader) -> Spare | None:
    """A child that waits for its job on a pipe (None: no room for one)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    gc.freeze()  # the server's objects: the child's collections and exit skip them
    job, hand = os.pipe()
    took, ack = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        for fd in (job, hand, took, ack):
            os.close(fd)
        return None
    if pid == 0:  # never back into the server's loop, whatever happens
        try:
            os.close(hand)
            os.close(took)
            requests.close()
            os.close(ANSWERS)
            _child(job, ack)
        finally:
            os._exit(1)
    os.close(job)
    os.close(ack)
    return pid, hand, took


def _hand(spare: Spare | None, line: bytes, requests: io.BufferedReader) -> int:
    """Give the job to the spare child, or to a new one if it was killed: its pid, or 0."""
    for child in (spare, None):
        child = child or _fork_ahead(requests)
        if child is None:
            return 0
        pid, hand, took = child
        try:
            rest = memoryview(line)
            while rest:
                rest = rest[os.write(hand, rest) :]
        except OSError:
            pass  # it is dead: no acknowledgement will come
        finally:
            os.close(hand)
        try:
            taken = os.read(took, 1) == b"!"
        finally:
            os.close(took)
        if taken:
            return pid
        os.waitpid(pid, 0)  # it died waiting (a kill of every process): reap it, fork another
    return 0


def _exit_code(status: int) -> int:
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def _child(job: int, ack: int) -> NoReturn:
    """Wait for a job on the pipe `job`, say on `ack` it is taken, then run it as `main` would,
    with its env."""
    with open(job, "rb") as pipe:
        line = pipe.read()
    if not line:  # the server is gone
        os._exit(0)
    os.write(ack, b"!")
    os.close(ack)
    code = 1
    try:
        mark, kind, env, data = line.split()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        with contextlib.suppress(OSError):  # out of memory: the job goes before the worker
            with open("/proc/self/oom_score_adj", "w") as adj:
                adj.write("500")
        os.environ.update(json.loads(base64.b64decode(env)))
        sys.argv = ["-c", mark.decode()]
        _streams(bool(os.environ.get("PYTHONUNBUFFERED")))
        code = call(mark.decode(), kind + b"\n" + data)
    except BaseException:
        traceback.print_exc()
    _exit(code)


def _streams(unbuffered: bool) -> None:
    """stdout and stderr as a python3 with (or without) PYTHONUNBUFFERED would have them."""
    if unbuffered == bool(getattr(sys.stdout, "write_through", False)):
        return
    for name, fd in (("stdout", 1), ("stderr", 2)):
        old = getattr(sys, name)
        raw = io.FileIO(fd, "w", closefd=False)
        new = io.TextIOWrapper(
            raw if unbuffered else io.BufferedWriter(raw),
            encoding=old.encoding,
            errors=old.errors,
            line_buffering=old.line_buffering,
            write_through=unbuffered,
        )
        setattr(sys, name, new)
        setattr(sys, f"__{name}__", new)


def _exit(code: int) -> NoReturn:
    """End the child as the interpreter would — threads joined, atexit handlers run, a
    collection, what the call left unflushed flushed — but without tearing down the modules
    it shares with the server, which alone costs more than the rest of a job."""
    threading = sys.modules.get("threading")
    with contextlib.suppress(BaseException):
        if threading is not None:
            threading._shutdown()
    with contextlib.suppress(BaseException):
        atexit._run_exitfuncs()
    with contextlib.suppress(BaseException):
        gc.collect()
        made = [obj for generation in range(3) for obj in gc.get_objects(generation)]
        for kind in (io.TextIOWrapper, io.BufferedWriter, io.BufferedRandom):
            for obj in made:
                if isinstance(obj, kind):
                    with contextlib.suppress(Exception):
                        obj.flush()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BaseException):
            stream.flush()
    os._exit(code & 0xFF)


if __name__ == "__main__":
    if sys.argv[1] == "--serve":
        sys.exit(serve(*sys.argv[2:]))
    sys.exit(main(sys.argv[1]))
