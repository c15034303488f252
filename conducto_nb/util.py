"""`co.util`: the helpers Conducto 0.1.x scripts called as `co.util.NAME`, with Conducto's
names and signatures (camelCase arguments included), so those scripts run unchanged.

- `magic_doc()`: a node's `doc` from the function building it: its docstring and its source,
  or the comment block above it. The most used one: it is why a pipeline's graph shows the
  code that made each node. It reads source through `linecache`, which IPython fills with
  every cell, so it works for a function defined in a notebook too.
- `env_bool(KEY)`: an environment variable read as a flag, the way Conducto read them.
- `mkdirs`, `makenestednodes`, `makeyyyymmnodes`, `makedatenodes`: the folders of nodes a
  pipeline over many months or dates is built from (one node per value, grouped by year or
  month when there are many, so the graph stays readable).
"""

from __future__ import annotations

import ast
import inspect
import linecache
import os
import sys
import textwrap
from collections.abc import Callable, Iterable, Iterator, Sequence
from types import CodeType, FunctionType
from typing import Any

from .errors import ParameterError
from .model.building import detached
from .model.nodes import Node, Parallel
from .shared.log import unindent
from .shared.types import parse_bool

__all__ = [
    "env_bool",
    "magic_doc",
    "makedatenodes",
    "makenestednodes",
    "makeyyyymmnodes",
    "mkdirs",
]


def env_bool(key: str) -> bool:
    """The environment variable `key` as a flag (`parse_bool`): unset is False."""
    return parse_bool(os.getenv(key))


# -- folders of nodes ----------------------------------------------------------------------
def mkdirs(baseNode: Node, path: str, nodeType: Callable[[], Node] | None = None) -> Node:
    """The node at `path` below `baseNode`, making each missing one on the way with
    `nodeType()` (a Parallel unless told)."""
    make = Parallel if nodeType is None else nodeType
    current = baseNode
    for part in filter(None, path.split("/")):
        if part not in current.children:
            with detached():  # built for this place, not for an enclosing `with` block
                child = make()
            current[part] = child
        current = current[part]
    return current


def makenestednodes(
    baseNode: Node,
    values: Iterable[Any],
    func: Callable[[int, Any, Sequence[Any]], str],
    makeLeafNode: bool = False,
    sort: bool = True,
    reverse: bool = False,
    nodeType: Callable[[], Node] | None = None,
) -> Iterator[tuple[Node, Any]]:
    """For each value (sorted unless `sort=False`), `func(index, value, values)` names its path
    below `baseNode`; yields `(node, value)`, making the folders as it goes. The path's last
    part is the value's own node: made only with `makeLeafNode=True`, else the node yielded is
    its folder, for the caller to put the value's node in."""
    items = sorted(values, reverse=reverse) if sort else list(values)
    for index, value in enumerate(items):
        path = func(index, value, items)
        if not makeLeafNode:
            path = "/".join(path.split("/")[:-1])
        yield mkdirs(baseNode, path, nodeType=nodeType), value


def makeyyyymmnodes(
    baseNode: Node,
    yyyymms: Iterable[Any],
    makeLeafNode: bool = False,
    reverse: bool = True,
    nodeType: Callable[[], Node] | None = None,
) -> Iterator[tuple[Node, Any]]:
    """`makenestednodes` for months written YYYYMM, newest first: ten or more are grouped in
    a folder per year (`2020/202003`)."""

    def path(_index: int, month: Any, months: Sequence[Any]) -> str:
        return str(month) if len(months) < 10 else f"{str(month)[:4]}/{month}"

    return makenestednodes(baseNode, yyyymms, path, makeLeafNode, True, reverse, nodeType)


def makedatenodes(
    baseNode: Node,
    dates: Iterable[Any],
    makeLeafNode: bool = False,
    reverse: bool = True,
    nodeType: Callable[[], Node] | None = None,
) -> Iterator[tuple[Node, Any]]:
    """`makenestednodes` for dates (`datetime.date` or YYYY-MM-DD text), newest first: more
    than ten are grouped by month (`2020-03/2020-03-15`), and by year too when they span ten
    months or more (`2020/2020-03/2020-03-15`)."""
    dates = list(dates)
    months = {str(d)[:7] for d in dates}

    def path(_index: int, date: Any, values: Sequence[Any]) -> str:
        text = str(date)
        if len(values) <= 10:
            return text
        if len(months) < 10:
            return f"{text[:7]}/{text}"
        return f"{text[:4]}/{text[:7]}/{text}"

    return makenestednodes(baseNode, dates, path, makeLeafNode, True, reverse, nodeType)


# -- magic_doc -----------------------------------------------------------------------------
def magic_doc(
    *, func: Callable[..., Any] | None = None, doc_only: bool = False, comment: bool = False
) -> str:
    """Markdown for a node's `doc`: the docstring of the function calling this (or of `func`),
    then that function's source, without the docstring, in a Python code block. No docstring:
    the module's is used. `doc_only=True`: the docstring alone. `comment=True`: instead, the
    block of `#` comments nearest above the call (or above `func`'s definition)."""
    if func is None:
        caller = sys._getframe(1)
        code, lineno, module_doc = caller.f_code, caller.f_lineno, caller.f_globals.get("__doc__")
        if code.co_name == "<module>":
            raise ParameterError(
                "magic_doc() describes the function it is called in: call it inside one, "
                "or pass func="
            )
    else:
        code = getattr(func, "__code__", None)  # type: ignore[assignment]
        if not isinstance(code, CodeType):
            raise ParameterError(f"magic_doc(func=...) needs a Python function, not {func!r}")
        lineno = code.co_firstlineno
        module_doc = getattr(func, "__globals__", {}).get("__doc__")
    if comment:
        return _comment_above(code, lineno)
    source = _source(code)
    doc, body = _split_docstring(source)
    if doc is None and isinstance(func, FunctionType):
        doc = func.__doc__
    if doc is None and _in_a_file(code):  # a notebook's "module" doc is IPython's own text
        doc = module_doc
    text = unindent(doc or "")
    if doc_only:
        return text
    block = f"```python\n{body}\n```"
    return f"{text}\n\n{block}" if text else block


def _in_a_file(code: CodeType) -> bool:
    name = code.co_filename
    return os.path.isfile(name) and "ipykernel_" not in name


def _source(code: CodeType) -> str:
    lines = linecache.getlines(code.co_filename)
    if not lines:
        raise ParameterError(
            f"magic_doc(): the source of `{code.co_name}` ({code.co_filename}) cannot be read"
        )
    start = code.co_firstlineno - 1
    return textwrap.dedent("".join(inspect.getblock(lines[start:]))).rstrip()


def _split_docstring(source: str) -> tuple[str | None, str]:
    """(the function's docstring, its source without the docstring's lines)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None, source
    defs = [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    if not defs:
        return None, source
    first = defs[0].body[0]
    doc = ast.get_docstring(defs[0], clean=False)
    # `def f(): "doc"` on one line is kept as written
    if doc is None or first.end_lineno is None or first.lineno <= defs[0].lineno:
        return doc, source
    lines = source.splitlines()
    rest = lines[first.end_lineno :]
    while rest and not rest[0].strip():
        rest = rest[1:]
    return doc, "\n".join([*lines[: first.lineno - 1], *rest])


def _comment_above(code: CodeType, lineno: int) -> str:
    """The block of `#` lines nearest at or above `lineno`, without the `#`s, unindented."""
    lines = linecache.getlines(code.co_filename)
    end = min(lineno, len(lines)) - 1
    while end >= 0 and not lines[end].lstrip().startswith("#"):
        end -= 1
    start = end
    while start >= 0 and lines[start].lstrip().startswith("#"):
        start -= 1
    text = [line.expandtabs().lstrip()[1:] for line in lines[start + 1 : end + 1]]
    return unindent("".join(text))
