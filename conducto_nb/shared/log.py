"""`conducto_nb.shared.log`: the text helpers Conducto scripts imported from
`conducto.shared.log`. Only `unindent` is kept: the rest of Conducto's module was its own
terminal logging, which scripts did not call.

`unindent` is also how an Exec's shell command is read, as in Conducto: a command written
indented inside a script (a heredoc, a `python -c` block) runs as if written at the margin.
"""

from __future__ import annotations

__all__ = ["unindent"]


def unindent(text: str) -> str:
    """`text` without the indentation its lines after the first share, and without blank
    space at either end (the first line is read on its own, as a docstring's is). A tab in a
    line's indentation counts as four spaces; tabs elsewhere are kept as they are."""
    lines = text.split("\n")
    rest = [_expand_indent(line) for line in lines[1:]]
    margins = [len(line) - len(line.lstrip(" ")) for line in rest if line.strip()]
    margin = min(margins, default=0)
    return "\n".join([lines[0], *(line[margin:] for line in rest)]).strip()


def _expand_indent(line: str) -> str:
    body = line.lstrip(" \t")
    return line[: len(line) - len(body)].expandtabs(4) + body
