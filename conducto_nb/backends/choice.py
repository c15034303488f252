"""Which backend a pipeline runs on: one instance per name per process, shared by every run
it starts, chosen by name, by $CONDUCTO_NB_BACKEND, or (neither given) docker when a daemon
answers, else local; the runner closes them all when the process exits.
"""

from __future__ import annotations

import os

from ..errors import PipelineError
from ..images.docker_sdk import close_sockets_left_in
from .base import Backend

__all__ = ["backend_named", "default_backend", "default_backend_name", "opened_backends"]


_BACKENDS: dict[str, Backend] = {}


def backend_named(choice: str | Backend | None) -> Backend:
    """The process-wide backend of that name. By default ($CONDUCTO_NB_BACKEND unset): docker
    when a daemon answers, else local. The local and docker backends' cores come from
    $CONDUCTO_NB_CPU_BUDGET, else the machine's (the daemon's)."""
    if isinstance(choice, Backend):
        return choice
    name = choice or os.environ.get("CONDUCTO_NB_BACKEND") or default_backend_name()
    if name not in _BACKENDS:
        budget = _number_env("CONDUCTO_NB_CPU_BUDGET")
        if name == "local":
            from .local.backend import LocalBackend

            _BACKENDS[name] = LocalBackend(cpu_budget=budget)
        elif name == "docker":
            from .docker.backend import DockerBackend

            _BACKENDS[name] = DockerBackend(
                cpu_budget=budget,
                mem_budget=_number_env("CONDUCTO_NB_MEM_BUDGET"),
                idle_timeout=_number_env("CONDUCTO_NB_IDLE_TIMEOUT") or 30.0,
                spare_timeout=_spare_timeout(),
            )
        elif name == "dask":
            from .dask.backend import DaskBackend

            address = os.environ.get("CONDUCTO_NB_DASK_SCHEDULER")
            if not address:
                raise PipelineError(
                    "the dask backend needs a scheduler: `--dask tcp://HOST:8786`, or "
                    "$CONDUCTO_NB_DASK_SCHEDULER"
                )
            _BACKENDS[name] = DaskBackend(address)
        else:
            raise PipelineError(f"unknown backend `{name}`; one of: local, docker, dask")
    return _BACKENDS[name]


def default_backend() -> Backend:
    """The backend `root.run()` uses when none is given (`.name` says which: docker where a
    daemon answers, else local, unless $CONDUCTO_NB_BACKEND chose)."""
    return backend_named(None)


def _spare_timeout() -> float:
    """$CONDUCTO_NB_SPARE_TIMEOUT: seconds a spare container waits (0: no spares)."""
    chosen = _number_env("CONDUCTO_NB_SPARE_TIMEOUT")
    return 300.0 if chosen is None else chosen


def _number_env(name: str) -> float | None:
    text = os.environ.get(name)
    try:
        return float(text) if text else None
    except ValueError:
        raise PipelineError(f"{name} must be a number, not {text!r}") from None


def opened_backends() -> list[Backend]:
    """The backends this process has made, for closing them when it exits (run/launch.py)."""
    return list(_BACKENDS.values())


_DEFAULT: list[str] = []


def default_backend_name() -> str:
    """`docker` when the docker SDK is installed and a daemon answers within a second, else
    `local`; decided once per process."""
    if not _DEFAULT:
        _DEFAULT.append("docker" if _docker_answers() else "local")
    return _DEFAULT[0]


def _docker_answers() -> bool:
    try:
        import docker
    except ImportError:
        return False
    try:
        client = docker.from_env(timeout=1)
    except Exception as e:
        close_sockets_left_in(e)
        return False
    try:
        return bool(client.ping())
    except Exception as e:
        close_sockets_left_in(e)
        return False
    finally:
        client.close()
