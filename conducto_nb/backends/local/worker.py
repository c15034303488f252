"""The warm worker process of the local backend: it takes one pickled call after another from
its control socket, runs each with the job's env and cwd, and answers with how it ended.

What a call prints goes to this process's fd 1 and 2, pipes the backend reads, so the output of
subprocesses the call starts is captured too. The answer is sent only after both streams are
flushed: whatever the backend reads from the pipes before the answer belongs to that job.

Protocol (both ways): a 4-byte big-endian length, then a pickle.
  request: (sys_path | None, cloudpickled (func, args, kwargs), env, cwd, generates)
  answer:  (exit_code, message | None, pickled result | None, repr of the result | None)
"""

from __future__ import annotations

import contextlib
import faulthandler
import importlib
import io
import os
import pickle
import socket
import struct
import sys
import traceback
from typing import Any

__all__ = ["main"]

_HEADER = struct.Struct("!I")
Answer = tuple[int, str | None, bytes | None, str | None]


def main(fd: int) -> None:
    """Serve calls on the socket `fd` until the backend closes it."""
    os.set_inheritable(fd, False)  # the call's subprocesses must not hold the control socket
    sock = socket.socket(fileno=fd)
    reader = sock.makefile("rb")
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):  # streamed line by line, as UTF-8
            stream.reconfigure(encoding="utf-8", errors="backslashreplace", line_buffering=True)
    faulthandler.enable()  # a segfault in a call prints its traceback to the job's stderr
    state = _State()
    while True:
        head = reader.read(_HEADER.size)
        if len(head) < _HEADER.size:
            return
        (size,) = _HEADER.unpack(head)
        body = reader.read(size)
        if len(body) < size:
            return
        request = pickle.loads(body)
        data = pickle.dumps(state.run(*request), pickle.HIGHEST_PROTOCOL)
        sock.sendall(_HEADER.pack(len(data)) + data)


class _State:
    """What a call may change and the worker puts back: env, cwd, stdout and stderr."""

    def __init__(self) -> None:
        self.env = dict(os.environ)
        self.raw_env = _raw_env()
        self.home = os.getcwd()
        self.stdout = sys.stdout
        self.stderr = sys.stderr

    def run(
        self,
        path: list[str] | None,
        payload: bytes,
        env: dict[str, str],
        cwd: str,
        generates: bool,
    ) -> Answer:
        if path is not None:
            _set_path(path)
        try:
            try:
                os.environ.update(env)
                try:
                    os.chdir(cwd)
                except FileNotFoundError:  # the work folder is made when first missing
                    os.makedirs(cwd, exist_ok=True)
                    os.chdir(cwd)
            except (OSError, ValueError) as e:
                print(f"cannot prepare the call: {e}", file=sys.stderr)
                return 1, f"cannot prepare the call: {e}", None, None
            return _call(payload, generates)
        finally:
            self._restore()

    def _restore(self) -> None:
        if sys.stdout is not self.stdout or sys.stderr is not self.stderr:
            sys.stdout, sys.stderr = self.stdout, self.stderr
        for stream in (self.stdout, self.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        raw = getattr(os.environ, "_data", None)  # CPython's encoded copy: quick to compare
        if raw is not None and self.raw_env is not None:
            if raw != self.raw_env:  # only the keys that differ (decoding all took 60 us)
                before = self.raw_env
                for key in [k for k, v in raw.items() if before.get(k) != v]:
                    if key in before:
                        os.environ[os.fsdecode(key)] = os.fsdecode(before[key])
                    else:
                        del os.environ[os.fsdecode(key)]
                for key in [k for k in before if k not in raw]:
                    os.environ[os.fsdecode(key)] = os.fsdecode(before[key])
        elif os.environ != self.env:
            for key in [k for k in os.environ if k not in self.env]:
                del os.environ[key]
            for key, value in self.env.items():
                if os.environ.get(key) != value:
                    os.environ[key] = value
        with contextlib.suppress(OSError):
            os.chdir(self.home)


def _raw_env() -> dict[Any, Any] | None:
    data = getattr(os.environ, "_data", None)
    return dict(data) if isinstance(data, dict) else None


def _set_path(path: list[str]) -> None:
    """The backend's sys.path first, so what its callables import by name imports here too."""
    wanted = set(path)
    sys.path[:] = path + [p for p in sys.path if p and p not in wanted]
    importlib.invalidate_caches()


def _call(payload: bytes, generates: bool) -> Answer:
    try:
        func, args, kwargs = pickle.loads(payload)
    except BaseException as e:
        traceback.print_exc()
        return 1, f"cannot unpickle the callable in the worker: {type(e).__name__}: {e}", None, None
    try:
        value = func(*args, **kwargs)
    except SystemExit as e:
        if e.code is None or e.code == 0:
            value = None
        elif isinstance(e.code, int):
            return e.code, None, None, None
        else:
            print(e.code, file=sys.stderr)
            return 1, None, None, None
    except BaseException as e:
        traceback.print_exception(type(e), e, e.__traceback__.tb_next if e.__traceback__ else None)
        return 1, None, None, None
    if generates:
        return _generated(value)
    return _answer(value)


def _generated(value: Any) -> Answer:
    from conducto_nb.model.nodes import Node

    if not isinstance(value, Node):
        message = (
            "the Lazy generator must return a node (Serial, Parallel or Exec), not "
            f"{type(value).__name__}: {_repr(value)}"
        )
        print(message, file=sys.stderr)
        return 1, message, None, None
    try:
        tree = value.to_json()
    except BaseException:
        traceback.print_exc()
        return 1, "the tree the Lazy generator returned cannot be serialised", None, None
    return _answer(tree)


def _answer(value: Any) -> Answer:
    if value is None:
        return 0, None, None, None
    try:
        return 0, None, pickle.dumps(value, pickle.HIGHEST_PROTOCOL), None
    except Exception:
        pass
    try:
        import cloudpickle

        return 0, None, cloudpickle.dumps(value, pickle.HIGHEST_PROTOCOL), None
    except Exception:
        return 0, None, None, _repr(value)


def _repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception as e:
        text = f"<unrepresentable {type(value).__name__}: {e}>"
    return text if len(text) <= 1000 else text[:1000] + "..."
