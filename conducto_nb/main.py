"""Pipeline scripts, Conducto style: functions that return nodes become commands.

    def ci(branch: str = "main") -> co.Serial: ...
    if __name__ == "__main__":
        co.main(default=ci)

`python pipeline.py` prints the tree, `python pipeline.py ci --branch=dev --run` runs it,
`conducto-nb run pipeline.py:ci --branch=dev` does the same from the CLI. When a Lazy node's
command runs such a script, it prints the tree as JSON for the scheduler to graft.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import sys
import types
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .errors import CommandError, PipelineError
from .model.execs import GENERATE_ENV
from .model.nodes import Node

__all__ = ["load_named_pipeline", "load_pipeline", "main", "parse_options"]


def parse_options(func: Callable[..., Any], options: Sequence[str]) -> dict[str, Any]:
    """`--name=value` / `--name value` / `--flag` strings into keyword arguments for `func`,
    converted by its annotations or defaults (int, float, bool); unknown names are errors."""
    sig = inspect.signature(func)
    kwargs: dict[str, Any] = {}
    items = list(options)
    while items:
        item = items.pop(0)
        if not item.startswith("--"):
            raise CommandError(f"unexpected argument {item!r}; options look like --name=value")
        key, eq, value = item[2:].partition("=")
        name = key.replace("-", "_")
        if name not in sig.parameters:
            known = ", ".join(f"--{p.replace('_', '-')}" for p in sig.parameters) or "none"
            raise CommandError(f"`{func.__name__}` has no option --{key} (options: {known})")
        param = sig.parameters[name]
        kind = _kind(param)
        if not eq:
            if kind is bool:
                value = "true"
            elif items and not items[0].startswith("--"):
                value = items.pop(0)
            else:
                raise CommandError(f"option --{key} needs a value")
        kwargs[name] = _convert(value, kind, key)
    return kwargs


def _kind(param: inspect.Parameter) -> type:
    ann = param.annotation
    for t in (bool, int, float):
        if ann is t or ann == t.__name__:
            return t
    if param.default is not inspect.Parameter.empty and param.default is not None:
        return type(param.default) if type(param.default) in (bool, int, float) else str
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


def node_functions(module: types.ModuleType) -> dict[str, Callable[..., Any]]:
    """Public functions of a script that return nodes (by annotation), in definition order."""
    out: dict[str, Callable[..., Any]] = {}
    for name, obj in vars(module).items():
        if name.startswith("_") or not inspect.isfunction(obj):
            continue
        if obj.__module__ != module.__name__:
            continue
        ret = inspect.signature(obj).return_annotation
        text = ret if isinstance(ret, str) else getattr(ret, "__name__", "")
        if (isinstance(ret, type) and issubclass(ret, Node)) or text.split(".")[-1] in (
            "Node",
            "Serial",
            "Parallel",
            "Exec",
            "Lazy",
        ):
            out[name] = obj
    return out


def load_script(path: str | Path) -> types.ModuleType:
    """Import a pipeline script without running its `if __name__ == "__main__"` block."""
    file = Path(path)
    if not file.is_file():
        raise PipelineError(f"no such pipeline script: {file}")
    spec = importlib.util.spec_from_file_location(f"_conducto_nb_script_{file.stem}", file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(file.parent.resolve()))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(file.parent.resolve()))
    return module


def load_pipeline(target: str, options: Sequence[str] = ()) -> Node:
    """`FILE.py[:FUNC]` plus `--name=value` options into the pipeline's root node. Without
    FUNC: the script's only node function, or its module-level node."""
    return load_named_pipeline(target, options)[0]


def load_named_pipeline(target: str, options: Sequence[str] = ()) -> tuple[Node, str]:
    """`load_pipeline`, with the name the run gets (as Conducto named it): the root's title,
    else the function's name, else the script's."""
    file, _, func_name = target.partition(":")
    module = load_script(file)
    funcs = node_functions(module)
    if func_name:
        func = getattr(module, func_name, None)
        if not callable(func):
            raise PipelineError(
                f"{file} has no function `{func_name}`"
                f" (node functions: {', '.join(funcs) or 'none'})"
            )
        return _named(_call(func, options), func_name)
    if len(funcs) == 1:
        name, func = next(iter(funcs.items()))
        return _named(_call(func, options), name)
    nodes = {k: v for k, v in vars(module).items() if isinstance(v, Node) and v.parent is None}
    if len(nodes) == 1 and not options:
        return _named(next(iter(nodes.values())), Path(file).stem)
    choices = ", ".join(f"{file}:{n}" for n in funcs) or "none"
    raise PipelineError(f"say which pipeline to run, e.g. {file}:NAME (node functions: {choices})")


def _named(root: Node, name: str) -> tuple[Node, str]:
    return root, root.title or name


def _call(func: Callable[..., Any], options: Sequence[str]) -> Node:
    node = func(**parse_options(func, options))
    if not isinstance(node, Node):
        raise PipelineError(f"`{func.__name__}` returned {type(node).__name__}, not a node")
    return node


def main(default: Callable[..., Node] | None = None, argv: Sequence[str] | None = None) -> None:
    """Conducto's `co.main()`: `python pipeline.py [FUNC] [--opt=value...] [--run]`."""
    args = list(sys.argv[1:] if argv is None else argv)
    module = sys.modules["__main__"]
    funcs = node_functions(module)
    run_it = any(a in ("--run", "--local") for a in args)
    args = [a for a in args if a not in ("--run", "--local")]
    if args and not args[0].startswith("--"):
        name = args.pop(0)
        if name not in funcs:
            raise SystemExit(f"unknown command {name!r}; one of: {', '.join(funcs) or 'none'}")
        func = funcs[name]
    elif default is not None:
        func = default
    else:
        raise SystemExit(
            f"usage: {sys.argv[0]} COMMAND [--option=value...] [--run]\n"
            f"commands: {', '.join(funcs) or 'none'}"
        )
    node = _call(func, args)
    if os.environ.get(GENERATE_ENV):
        sys.stdout.write(node_json(node) + "\n")
    elif run_it:
        from .terminal import run_with_view

        raise SystemExit(run_with_view(node, name=node.title or func.__name__))
    else:
        print(node.pretty())


def node_json(node: Node) -> str:
    from .model.serialize import dumps

    return dumps(node)
