"""Pipeline scripts, Conducto style: functions that return nodes become commands.

    def ci(branch: str = "main") -> co.Serial: ...
    if __name__ == "__main__":
        co.main(default=ci)

`python pipeline.py` prints the tree, `python pipeline.py ci --branch=dev --run` runs it,
`conducto-nb run pipeline.py:ci --branch=dev` does the same from the CLI. When a Lazy node's
command runs such a script, it prints the tree as JSON for the scheduler to graft.
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import os
import pprint
import sys
import types
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .errors import CommandError, PipelineError
from .main_flags import (
    ScriptFlags,
    ServiceOnlyFlag,
    parse_options,
    prog,
    script_commands,
    split_flags,
    usage,
)
from .model.execs import GENERATE_ENV
from .model.nodes import Node
from .model.states import State
from .shared.log import unindent

__all__ = ["load_named_pipeline", "load_pipeline", "main", "parse_options"]


def node_functions(module: types.ModuleType) -> dict[str, Callable[..., Any]]:
    """Public functions of a script that return nodes (by annotation), in definition order."""
    return {
        name: obj
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and inspect.isfunction(obj)
        and obj.__module__ == module.__name__
        and _returns_node(obj)
    }


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


def main(
    variables: Mapping[str, Any] | None = None,
    default: Callable[..., Any] | None = None,
    argv: Sequence[str] | None = None,
    env: Mapping[str, Any] | None = None,
    cpu: float | None = None,
    gpu: int | None = None,
    mem: float | None = None,
    requires_docker: bool = False,
    image: Any = None,
    filename: str | None = None,
    printer: Callable[[Any], Any] = pprint.pprint,
) -> Any:
    """Conducto's `co.main()`: `python pipeline.py [FUNC] [--opt=value...] [--run]`.

    FUNC is one of the script's public functions (or of `variables`), else `default`. A node
    it returns is printed as a tree, or run here with `--run`/`--local` (see main_flags.py
    for Conducto's other flags); `env`, `cpu`, `gpu`, `mem`, `image`, `requires_docker` are
    set on that node. Another function's return value goes to `printer`. Bad input ends the
    script with one line on stderr, not a traceback. `filename` is accepted and unused."""
    if callable(variables) and default is None:  # `co.main(func)`, as conducto_nb allowed
        variables, default = None, variables
    try:
        return _main(variables, default, argv, printer, _node_params(locals()))
    except ServiceOnlyFlag as e:
        print(f"{prog()}: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    except PipelineError as e:
        raise SystemExit(f"{prog()}: {e}") from None


def _node_params(given: Mapping[str, Any]) -> dict[str, Any]:
    params = {k: given[k] for k in ("env", "cpu", "gpu", "mem", "image") if given[k] is not None}
    return {**params, "requires_docker": True} if given["requires_docker"] else params


def _main(
    variables: Mapping[str, Any] | None,
    default: Callable[..., Any] | None,
    argv: Sequence[str] | None,
    printer: Callable[[Any], Any],
    node_params: Mapping[str, Any],
) -> Any:
    args = list(sys.argv[1:] if argv is None else argv)
    commands = script_commands(variables)
    if {"-h", "--help"} & set(args):
        print(usage(commands), file=sys.stderr)
        raise SystemExit(0)
    if {"-v", "--version"} & set(args):
        print(getattr(sys.modules.get("conducto_nb"), "__version__", "unknown"))
        raise SystemExit(0)
    if args and not args[0].startswith("-"):
        name = args.pop(0)
        if name not in commands:
            raise CommandError(f"unknown command {name!r}; one of: {', '.join(commands) or 'none'}")
        func = commands[name]
    elif default is not None:
        func = default
    else:
        print(usage(commands), file=sys.stderr)
        raise SystemExit(1)
    try:
        flags, rest = split_flags(args, set(inspect.signature(func).parameters))
    except ValueError as e:
        raise CommandError(str(e)) from None
    output = func(**parse_options(func, rest))
    if inspect.isawaitable(output):
        output = asyncio.run(_awaited(output))
    if not isinstance(output, Node):
        if _returns_node(func):
            raise PipelineError(f"`{func.__name__}` returned {type(output).__name__}, not a node")
        if output is not None:
            printer(output)
        return output
    _label(output, func, flags, node_params)
    if os.environ.get(GENERATE_ENV):
        sys.stdout.write(node_json(output) + "\n")
    elif flags.run:
        raise SystemExit(_run(output, flags, output.title or func.__name__))
    else:
        print(output.pretty())
    return output


async def _awaited(value: Any) -> Any:
    return await value


def _label(node: Node, func: Callable[..., Any], flags: ScriptFlags, params: Any) -> None:
    """co.main()'s node parameters, then the title and doc, as Conducto set them."""
    for key, value in params.items():
        if node.own_params.get(key) not in (None, value):
            raise CommandError(f"co.main({key}=...) would overwrite the `{key}` the node sets")
        node.set_param(key, value)
    node.title = flags.title or node.title
    doc = flags.doc or node.doc or flags.default_doc
    node.doc = doc if doc or not func.__doc__ else unindent(func.__doc__)


def _run(node: Node, flags: ScriptFlags, name: str) -> int:
    from .run.launch import start
    from .terminal import watch

    run = start(node, name=name)
    print(f"pipeline {run.id} on the {run.backend} backend", flush=True)
    if flags.app:
        print(f"open it live in a notebook: co.load({run.id!r})", flush=True)
    if flags.shell:
        return watch(run)
    run.wait()
    print(f"pipeline {run.id}: {run.state.value}")
    return 0 if run.state is State.DONE else 1


def _returns_node(func: Callable[..., Any]) -> bool:
    ret = inspect.signature(func).return_annotation
    text = ret if isinstance(ret, str) else getattr(ret, "__name__", "")
    node_names = ("Node", "Serial", "Parallel", "Exec", "Lazy")
    return (isinstance(ret, type) and issubclass(ret, Node)) or text.split(".")[-1] in node_names


def node_json(node: Node) -> str:
    from .model.serialize import dumps

    return dumps(node)
