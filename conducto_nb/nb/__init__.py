"""A node's output as notebook cells (`co.nb`, as in Conducto 0.1.x): in a script a node runs,
`with co.nb.cell():` shows that block as a cell in the node's output (its leading comments as
Markdown, its code, then what it prints), and `co.nb.matplotlib_inline()` shows the figures
`plt.show()` draws there too, inline.

Both only print: text between `<ConductoMarkdown>` and `</ConductoMarkdown>`, which the graph
panel shows rendered (widget/markdown.py), as Conducto's web app did. Figures travel inside
that text as `data:` images, so they need no co.data server and no shared folder, on every
backend. This runs in the node's own Python, in a container as on this machine.

May import: nothing of the package (matplotlib, only when the node asks for its figures).
"""

from __future__ import annotations

import ast
import contextlib
import linecache
import sys
import textwrap
from collections.abc import Iterator
from types import FrameType

__all__ = ["CLOSE", "IN_MARKDOWN", "OPEN", "cell", "matplotlib_inline"]

OPEN, CLOSE = "<ConductoMarkdown>", "</ConductoMarkdown>"

#: True inside a `cell()`: what is printed there is already in a block.
IN_MARKDOWN = False

BACKEND = "module://conducto_nb.nb.matplotlib_backend"


@contextlib.contextmanager
def cell() -> Iterator[None]:
    """Show the `with` block as a cell: its leading `#` comments as Markdown, its code, and
    what it prints, all in one block of the node's output."""
    global IN_MARKDOWN
    source = _block_source(sys._getframe(2))  # this generator, contextlib's __enter__, caller
    comment, code = _split(source) if source is not None else ("", "")
    shown = f"```python\n{code}\n```" if code and code.strip() != "pass" else ""
    print(f"\n{OPEN}{comment}\n{shown}", flush=True)
    IN_MARKDOWN = True
    try:
        yield
    finally:
        IN_MARKDOWN = False
        print(CLOSE, flush=True)


def matplotlib_inline() -> None:
    """From now on, `plt.show()` in this node shows its figures in the node's output."""
    try:
        import matplotlib
    except ImportError:
        raise ImportError(
            "co.nb.matplotlib_inline() needs matplotlib in the node's Python "
            "(pip install matplotlib, or reqs_py=['matplotlib'] in its co.Image)"
        ) from None
    matplotlib.use(BACKEND)


def _block_source(frame: FrameType) -> str | None:
    """The body of the `with` statement `frame` is at, as written (comments kept), dedented;
    None where its source cannot be read (code made by exec)."""
    filename, line = frame.f_code.co_filename, frame.f_lineno
    lines = linecache.getlines(filename, frame.f_globals)  # a file, or a notebook cell
    if not lines:
        return None
    try:
        tree = ast.parse("".join(lines))
    except SyntaxError:
        return None
    withs = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.With | ast.AsyncWith) and node.lineno <= line < node.body[0].lineno
    ]
    if not withs:
        return None
    node = max(withs, key=lambda n: n.lineno)  # the innermost one
    header_end = max(item.context_expr.end_lineno or node.lineno for item in node.items)
    body = lines[header_end : node.end_lineno]
    return textwrap.dedent("".join(body))


def _split(source: str) -> tuple[str, str]:
    """The block's leading comment lines as Markdown (`# ` taken off), and the code after."""
    lines = source.splitlines()
    comments: list[str] = []
    while lines and (lines[0].lstrip().startswith("#") or not lines[0].strip()):
        text = lines.pop(0).strip()[1:]
        comments.append(text[1:] if text.startswith(" ") else text)
    return "\n".join(comments).strip("\n"), "\n".join(lines).rstrip()
