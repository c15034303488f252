"""Runs one pickled call inside a container for the Docker backend. Its source is sent to the
container's worker once and started as `python3 -c "$BOOT" MARKER` per callable job, so it
imports only the standard library: the image needs Python and cloudpickle, not conducto_nb
(with a local daemon the backend mounts this package at PACKAGE_MOUNT, so a Lazy generator can
build nodes in any image of the kernel's Python version).

stdin carries a line "C" (a call) or "G" (a Lazy generator: its node's `to_json()` is the
result), then the base64 of the cloudpickled `(func, args, kwargs)`. What the call prints goes
to fd 1 and 2 as it is printed; then, after both are flushed, one control line on stdout:
`MARKER R <base64 pickle>` (the result), `MARKER S <base64 text>` (the repr of a result that
cannot be pickled) or `MARKER M <base64 text>` (why the call could not run). The exit code is
the call's: 0, 1 for an exception (its traceback on stderr), or what it passed to sys.exit.
"""

from __future__ import annotations

import base64
import contextlib
import io
import os
import pickle
import sys
import traceback
from typing import Any

#: Where the backend mounts this package (read-only) in containers of a local daemon.
PACKAGE_MOUNT = "/opt/conducto_nb"


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
    raw = sys.stdin.buffer.read()
    sys.stdin = open(os.devnull)  # noqa: SIM115 - the call's input, for the process's life
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(line_buffering=True, errors="backslashreplace")
    if os.path.isdir(PACKAGE_MOUNT):  # conducto_nb itself, for callables that build nodes
        sys.path.insert(0, PACKAGE_MOUNT)
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


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
