"""A pipeline script's command line: the commands it offers, its usage, and Conducto's own
flags (`python pipeline.py ci --local --run --no-app`), read before the rest goes to the
pipeline function.

Conducto 0.1.x scripts were run with flags that chose where and how the pipeline ran; the
same command lines must work here. Those that make sense on one machine keep their meaning
(`--local`/`--run` run it here, `--shell` shows the live tree, `--title`/`--doc` label the
root). Those that only meant something with Conducto's hosted service (`--cloud`, `--k8s`,
`--public`, `--run-at`, `--pipeline-id`, `--profile`) stop the script with one sentence
saying so and what to do instead, not a traceback.
"""

from __future__ import annotations

import inspect
import os
import sys
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import CommandError

__all__ = [
    "SERVICE_ONLY",
    "ScriptFlags",
    "ServiceOnlyFlag",
    "parse_options",
    "prog",
    "script_commands",
    "split_flags",
    "usage",
]

#: Flags that take no value.
_SWITCHES = {"local", "run", "sleep_when_done", "app", "no_app", "shell", "no_shell"}
#: Flags that take one value, `--title=X` or `--title X`.
_VALUED = {"title", "doc", "default_doc"}

_HERE = "pipelines run on this machine: use --run (or `conducto-nb run FILE.py:FUNC`)"
#: Flags that needed Conducto's hosted service: each with what to do instead.
SERVICE_ONLY = {
    "cloud": f"there is no Conducto cloud here; {_HERE}",
    "k8s": f"there is no Conducto Kubernetes service here; {_HERE}",
    "public": "there is no Conducto service to share a pipeline publicly from here; "
    "send the run's id, which `co.load(ID)` opens on this machine",
    "run_at": "there is no Conducto scheduler here to start a pipeline later; "
    "start the script at that time from cron or a CI schedule with --run",
    "pipeline_id": "there is no Conducto service here to update a pipeline in; "
    "a Lazy node's command prints its tree by itself",
    "profile": "there are no Conducto profiles here (no service to log in to); "
    "every run is stored under $CONDUCTO_NB_HOME",
}


def parse_options(func: Callable[..., Any], options: Sequence[str]) -> dict[str, Any]:
    """`--name=value` / `--name value` / `--flag` / `--no-flag` strings into keyword
    arguments for `func`, converted by its annotations or defaults (int, float, bool, and
    lists of them written `a,b,c`, as Conducto read them); unknown names are errors."""
    sig = inspect.signature(func)
    kwargs: dict[str, Any] = {}
    items = list(options)
    while items:
        item = items.pop(0)
        if not item.startswith("--"):
            raise CommandError(f"unexpected argument {item!r}; options look like --name=value")
        key, eq, value = item[2:].partition("=")
        name = key.replace("-", "_")
        negated = name.startswith("no_") and name not in sig.parameters and not eq
        if negated and name[3:] in sig.parameters and _kind(sig.parameters[name[3:]]) is bool:
            kwargs[name[3:]] = False
            continue
        if name not in sig.parameters:
            known = ", ".join(f"--{p.replace('_', '-')}" for p in sig.parameters) or "none"
            raise CommandError(f"`{func.__name__}` has no option --{key} (options: {known})")
        kind = _kind(sig.parameters[name])
        if not eq:
            if kind is bool:
                value = "true"
            elif items and not items[0].startswith("--"):
                value = items.pop(0)
            else:
                raise CommandError(f"option --{key} needs a value")
        if isinstance(kind, list):  # a list of kind[0]: `a,b,c`
            kwargs[name] = [_convert(v, kind[0], key) for v in value.split(",") if v]
        else:
            kwargs[name] = _convert(value, kind, key)
    required = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    missing = [
        f"--{p.name.replace('_', '-')}=..."
        for p in sig.parameters.values()
        if p.default is p.empty and p.kind in required and p.name not in kwargs
    ]
    if missing:
        raise CommandError(f"`{func.__name__}` needs {' and '.join(missing)}")
    return kwargs


_SCALARS: dict[str, type] = {"bool": bool, "int": int, "float": float, "str": str}


def _kind(param: inspect.Parameter) -> Any:
    """The option's type: bool, int, float or str, or `[item type]` for a list."""
    ann = param.annotation
    text = ann if isinstance(ann, str) else str(ann) if typing.get_origin(ann) else ""
    text = text.replace("typing.", "").replace(" ", "")
    for prefix in ("Optional[", "Union["):  # Optional[int], Union[int, None] read as int
        if text.startswith(prefix) and text.endswith("]"):
            text = text[len(prefix) : -1].removesuffix(",None").removesuffix(",NoneType")
    text = text.removesuffix("|None")
    if text.startswith(("List[", "list[")) and text.endswith("]"):
        return [_SCALARS.get(text[5:-1], str)]
    for t in (bool, int, float):
        if ann is t or text == t.__name__:
            return t
    default = param.default
    if isinstance(default, list | tuple):
        items = {type(v) for v in default}
        return [items.pop() if len(items) == 1 and items <= {int, float, bool} else str]
    if default is not inspect.Parameter.empty and default is not None:
        return type(default) if type(default) in (bool, int, float) else str
    return str


def _convert(value: str, kind: type, key: str) -> Any:
    if kind is bool:
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off"):
            return False
        raise CommandError(f"option --{key} must be true or false, not {value!r}")
    try:
        return kind(value)
    except ValueError:
        raise CommandError(f"option --{key} must be {kind.__name__}, not {value!r}") from None


class ServiceOnlyFlag(Exception):
    """A flag that needed Conducto's hosted service; the message says what to use instead."""


@dataclass
class ScriptFlags:
    """Conducto's flags as given: whether to run, and how to show and label the run."""

    run: bool = False  # --run or --local: run here now (else print the tree)
    shell: bool = True  # the live tree in the terminal; --no-shell waits quietly
    app: bool = False  # --app: also say how to open the live graph in a notebook
    sleep_when_done: bool = False  # accepted: a finished run holds no resources here
    title: str | None = None
    doc: str | None = None
    default_doc: str | None = None


def split_flags(args: Sequence[str], own: set[str]) -> tuple[ScriptFlags, list[str]]:
    """(Conducto's flags, the arguments left for the pipeline function). A name in `own`
    (the function's parameters) is the function's even where Conducto has a flag of it."""
    flags = ScriptFlags()
    rest: list[str] = []
    items = list(args)
    while items:
        item = items.pop(0)
        key, eq, value = item[2:].partition("=")
        name = key.replace("-", "_")
        if not item.startswith("--") or name in own:
            rest.append(item)
        elif name in SERVICE_ONLY:
            raise ServiceOnlyFlag(f"--{key}: {SERVICE_ONLY[name]}")
        elif name in _SWITCHES:
            if eq:
                raise ValueError(f"--{key} takes no value, but got {value!r}")
            _switch(flags, name)
        elif name in _VALUED:
            if not eq:
                if not items or items[0].startswith("--"):
                    raise ValueError(f"--{key} needs a value")
                value = items.pop(0)
            setattr(flags, name, value)
        else:
            rest.append(item)
    return flags, rest


def _switch(flags: ScriptFlags, name: str) -> None:
    if name in ("local", "run"):
        flags.run = True
    elif name in ("shell", "no_shell"):
        flags.shell = name == "shell"
    elif name in ("app", "no_app"):
        flags.app = name == "app"
    else:
        flags.sleep_when_done = True


def script_commands(variables: Mapping[str, Any] | None) -> dict[str, Callable[..., Any]]:
    """The functions a script's command line may name: `variables`' public callables (its
    `__all__` when it has one), else the public functions the `__main__` script defines."""
    if variables is None:
        module = sys.modules["__main__"]
        found = {
            k: v
            for k, v in vars(module).items()
            if inspect.isfunction(v) and v.__module__ == module.__name__
        }
        variables = {**found, "__all__": getattr(module, "__all__", None)}
    names = variables.get("__all__") or list(variables)
    return {
        n: variables[n]
        for n in names
        if n in variables
        and not n.startswith("_")
        and callable(variables[n])
        and not inspect.isclass(variables[n])
    }


def usage(commands: Mapping[str, Callable[..., Any]]) -> str:
    lines = [f"usage: {prog()} COMMAND [--option=value...] [--run | --local]"]
    lines.append("       [--shell | --no-shell] [--app | --no-app] [--title=T] [--doc=D]")
    for name, func in commands.items():
        params = " ".join(f"--{p.replace('_', '-')}" for p in inspect.signature(func).parameters)
        lines.append(f"  {name} {params}".rstrip())
    return "\n".join(lines)


def prog() -> str:
    return os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "pipeline"
