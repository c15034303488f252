"""The `{variables}` of `.conducto.cfg`: put into a command's arguments, never into code.

Commands run WITHOUT a shell: the command is split with shlex first and `{variables}` are
substituted inside each argument, so a branch called `x; rm -rf ~` stays one literal argument.
`{{name}}` is a literal `{name}`; `${HOME}` and braces that hold no bare name (`{print $1}`,
`{}`) pass through. A `{variable}` inside the script of `sh -c` / `python -c` is refused: there
it would be code (use `$CONDUCTO_BRANCH`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["code_reference", "names", "substitute", "substitute_all"]

# `{{name}}` escapes, `${name}` is the shell's, `{name}` is ours.
_REF = re.compile(r"\{\{([A-Za-z_][A-Za-z0-9_]*)\}\}|(\$?)\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SHELLS = re.compile(r"(?:ba|da|z|k|fi)?sh|python[0-9.]*")
_CODE_FLAG = re.compile(r"-[A-Za-z]*c")


def substitute(text: str, values: Mapping[str, str]) -> str:
    """Put values in for `{name}`s in one pass, so a value is never itself substituted into."""

    def one(m: re.Match[str]) -> str:
        if m.group(1) is not None:
            return "{" + m.group(1) + "}"
        if m.group(2):
            return m.group(0)
        return values.get(m.group(3), "")

    return _REF.sub(one, text)


def substitute_all(value: Any, values: Mapping[str, str]) -> Any:
    """`value` with `substitute` applied to every string in it, in lists and dicts too."""
    if isinstance(value, str):
        return substitute(value, values)
    if isinstance(value, list):
        return [substitute_all(x, values) for x in value]
    if isinstance(value, dict):
        return {k: substitute_all(x, values) for k, x in value.items()}
    return value


def names(text: str) -> list[str]:
    """The `{variables}` `text` refers to, in order (not `{{escaped}}` or `${shell}` ones)."""
    return [m.group(3) for m in _REF.finditer(text) if m.group(3) and not m.group(2)]


def code_reference(argv: Sequence[str]) -> str | None:
    """Why `argv` is refused: the first `{variable}` inside the script of `sh -c`, `python -c`
    and the like, where its value would be read as code; None when there is none."""
    for i, arg in enumerate(argv):
        if i >= 2 and names(arg) and _CODE_FLAG.fullmatch(argv[i - 1]):
            shell = next(
                (a for a in argv[: i - 1] if _SHELLS.fullmatch(a.rsplit("/", 1)[-1])), None
            )
            if shell:
                var = names(arg)[0]
                return (
                    f"{{{var}}} inside a `{shell} {argv[i - 1]}` script would be read as code; "
                    f'pass it as its own argument, or read "$CONDUCTO_{var.upper()}" there'
                )
    return None
