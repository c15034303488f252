"""`conducto_nb.shared.log`: the text helpers Conducto scripts imported from
`conducto.shared.log`. Only `unindent` is kept: the rest of Conducto's module was its own
terminal logging, which scripts did not call."""

from __future__ import annotations

import inspect

__all__ = ["unindent"]


def unindent(text: str) -> str:
    """`text` without its common indentation and without blank lines at either end, the
    first line read on its own (as a docstring's is): how Conducto tidied docs and commands
    written inside indented code."""
    return inspect.cleandoc(text.expandtabs(4))
