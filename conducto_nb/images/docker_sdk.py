"""The docker SDK as every part of conducto_nb meets it: imported on first use with a one-line
install hint when it is missing (it is the optional `[docker]` extra), and the sockets that a
failed connect leaves behind closed at once. Here, at the bottom of the layers, because hashing
an image (`.dockerignore`), building it and the Docker backend all need it.
"""

from __future__ import annotations

import importlib
import socket
from typing import Any

from ..errors import BackendError

__all__ = ["close_sockets_left_in", "import_docker"]


def import_docker(need: str = "the Docker backend") -> Any:
    """The docker SDK (typed Any: it ships no stubs), or a BackendError saying what `need`s it
    and how to install it."""
    try:
        docker = importlib.import_module("docker")
        importlib.import_module("docker.utils.build")
    except ImportError:
        docker = None
    if docker is None or not hasattr(docker, "APIClient"):
        raise BackendError(f"{need} needs the docker SDK: pip install 'conducto_nb[docker]'")
    return docker


def close_sockets_left_in(error: BaseException) -> None:
    """Close the sockets that never connected in the frames `error` (or what caused it) went
    through: docker-py's unix connect drops its socket there when the connect fails. Explicit,
    because silencing the warning instead would change the process's warning filters from one
    of the daemon's threads while others run."""
    pending: list[object] = [error]
    seen: set[int] = set()
    while pending:
        e = pending.pop()
        if not isinstance(e, BaseException) or id(e) in seen:
            continue
        seen.add(id(e))
        pending += [e.__cause__, e.__context__, getattr(e, "reason", None)]  # urllib3 keeps it
        tb = e.__traceback__
        while tb is not None:
            for value in list(tb.tb_frame.f_locals.values()):
                if isinstance(value, socket.socket) and _unconnected(value):
                    value.close()
            tb = tb.tb_next


def _unconnected(sock: socket.socket) -> bool:
    if sock.fileno() < 0:
        return False
    try:
        sock.getpeername()
    except OSError:
        return True
    return False
