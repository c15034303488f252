"""Conducto's functions around the node classes, under its names: `co.lazy_py(func, ...)`
and `co.lazy_shell(command, ...)` (a Lazy node from a Python function, or from a command
that prints a tree), and `co.Params(...)` (the dict of node parameters that `Exec(func,
params=co.Params(...))` takes when a keyword means an argument of `func`). Conducto's scripts
call these as often as the classes, so they are part of the API here too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..errors import CommandError
from .execs import Lazy

__all__ = ["Params", "lazy_py", "lazy_shell"]


def lazy_py(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Lazy:
    """`co.Lazy(func, *args, **kwargs)`: its Generate step calls `func`, which returns the
    subtree run as Execute."""
    if not callable(func):
        raise CommandError(f"lazy_py() needs a Python callable, not {func!r}")
    return Lazy(func, *args, **kwargs)


def lazy_shell(command: str, env: Mapping[str, Any] | None = None, **exec_args: Any) -> Lazy:
    """`co.Lazy(command)`: its Generate step runs the shell `command`, which prints a tree
    (a `co.main()` script does), run as Execute. `env` is the Lazy node's environment."""
    if not isinstance(command, str):
        raise CommandError(f"lazy_shell() needs a shell command, not {command!r}")
    if env is not None:
        exec_args["env"] = env
    return Lazy(command, **exec_args)


def Params(**kwargs: Any) -> dict[str, Any]:
    """The node parameters given, as a dict: for `def func(cpu)`, `co.Exec(func, cpu=4,
    params=co.Params(cpu=2))` passes `cpu=4` to `func` and gives the node 2 CPUs."""
    return dict(kwargs)
