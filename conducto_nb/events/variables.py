"""The `{variables}` of `.conducto.cfg`: in a shell command, they are data, never code.

A `command` is a shell command (`/bin/sh -c`), as it was in Conducto: `cd ci && make > log`
works. Pasting a value into that text would let a branch called `x;rm${IFS}-rf${IFS}$HOME` run
`rm`, and no quoting of the value is safe everywhere a placeholder can sit. So no value is ever
put into the text: every value is in the command's environment already (`CONDUCTO_BRANCH`,
`CONDUCTO_PR`, ... one per variable, `--key=value` ones too), and each `{name}` becomes a
reference to its variable, written for the quoting context the placeholder sits in (found by
reading the command as a POSIX shell's lexer does):

    unquoted        x={branch}      ->  x="${CONDUCTO_BRANCH}"
    "double"        "x={branch}"    ->  "x=${CONDUCTO_BRANCH}"
    'single'        'x={branch}'    ->  'x="${CONDUCTO_BRANCH}"'   (left for a shell inside)

The shell expands a reference once, as data; a value is never parsed. Inside `$(...)` and
backquotes a placeholder is unquoted again. `{{name}}` is a literal `{name}`; `${name}` is the
shell's own; braces around no bare name (`{print $1}`, `{}`) pass through; a `{` right after a
backslash is a literal brace. A `#` starting a word starts a comment, as in the shell.

Here-documents are read as the shell reads them: in the body of `<<EOF` (the shell expands
it, as in double quotes) a placeholder becomes `${CONDUCTO_BRANCH}`; the body of `<<'EOF'`
(or `<<"EOF"`, `<<\\EOF`: nothing expanded) is text for whatever reads it, as in single
quotes. (In a `$(...)` inside an expanded body the reference is unquoted: split, never run.)

Single quotes expand nothing, so a placeholder there is NOT replaced by its value: the text in
single quotes is code for whatever the command hands it to, and the reference reaches that
interpreter as it is. `sh -c 'deploy {branch}'` hands `deploy "${CONDUCTO_BRANCH}"` to the
inner shell, which expands it from its environment, as data again (a `"` inside the single
quotes counts: there the reference is written without quotes of its own). Another interpreter
reads the reference as its own text: in `python -c 'print("{branch}")'` it is the string
`${CONDUCTO_BRANCH}`; read `os.environ["CONDUCTO_BRANCH"]` (perl: `$ENV{CONDUCTO_BRANCH}`)
there, and write `"{branch}"` in double quotes where the value itself is meant. (Closing the
single quote around an expansion instead, `'"${CONDUCTO_BRANCH}"'`, would hand the inner
interpreter the value as code.) In double quotes, `sh -c "deploy {branch}"`, the outer shell
expands the value into the inner script: running a value as code is then the command's own
choice, as it would be typed by hand.

Values naming a ref (branch, base_branch, tag, sha) are checked as git checks ref names, so a
branch called `--output=/tmp/x` never reaches `git log {branch}` as an option (`ref_problem`).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "REF_VARIABLES",
    "env_name",
    "names",
    "ref_problem",
    "script",
    "shown",
    "substitute",
    "substitute_all",
]

# `{{name}}` escapes, `${name}` is the shell's, `{name}` is ours.
_REF = re.compile(r"\{\{([A-Za-z_][A-Za-z0-9_]*)\}\}|(\$?)\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Quoting contexts: unquoted, "double", 'single', $(command substitution), `backquotes`.
_U, _D, _S, _SUB, _BQ = "unquoted", "double", "single", "$(", "`"
_BREAKS = " \t\n;&|<>()"  # what ends a word, outside quotes
_SD = "double inside single"  # `'sh -c "... {branch}"'`: the inner shell's double quotes
_HD = "here-document"  # the body of `<<EOF`, which the shell expands
#: The variables whose values are git refs (or revisions): checked by `ref_problem`.
REF_VARIABLES = ("branch", "base_branch", "tag", "sha")


def env_name(name: str) -> str:
    """The environment variable holding `{name}`'s value: `CONDUCTO_BRANCH` for `{branch}`."""
    return f"CONDUCTO_{name.upper()}"


def substitute(text: str, values: Mapping[str, str]) -> str:
    """Put values in for `{name}`s in one pass, so a value is never itself substituted into.
    For text that is not shell code (image keys); commands use `script` and `shown`."""

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


def _inner(frame: list[Any], c: str) -> None:
    """Feed one character of the word being read to the lexer of a shell that would read that
    word as its script (`sh -c '...'`): frame[2] is its context, frame[3] a pending `\\`."""
    if frame[3]:
        frame[3] = 0
    elif frame[2] == _S:
        frame[2] = _U if c == "'" else _S
    elif c == "\\":
        frame[3] = 1
    elif c == '"':
        frame[2] = _U if frame[2] == _D else _D
    elif c == "'" and frame[2] == _U:
        frame[2] = _S


def _render(command: str, put: Callable[[str, str], str]) -> str:
    """`command` with each `{name}` replaced by `put(name, context)`, the context found by
    reading the command as a POSIX shell's lexer does; ValueError when a quote, `$(` or
    backquote is never closed (the shell could not parse it). In single quotes the context is
    `_SD` where a shell reading that text as its script would be inside double quotes."""
    out: list[str] = []
    # a frame: [context, `(`s open in a `$(`, the context and a pending `\\` of a shell that
    # would read the word being read as its script: `'sh -c "it'\\''s {branch}"'` is one]
    stack: list[list[Any]] = [[_U, 0, _U, 0]]
    pending: list[tuple[str, bool, bool]] = []  # here-documents whose bodies start next line
    i, n = 0, len(command)
    while i < n:
        c, top = command[i], stack[-1]
        ctx = top[0]
        if ctx in (_U, _SUB, _BQ):
            if command.startswith("<<<", i):  # a here-string: a word, read as words are
                out.append("<<<")
                i += 3
                continue
            if command.startswith("<<", i):
                end, here = _here_operator(command, i)
                if here is not None:
                    pending.append(here)
                    out.append(command[i:end])
                    i = end
                    continue
            elif c == "\n" and pending:
                out.append(c)
                i = _here_bodies(command, i + 1, pending, put, out)
                pending.clear()
                top[2:] = [_U, 0]
                continue
        if c == "\\" and i + 1 < n and (ctx != _S or command[i + 1] != "'"):
            out.append(command[i : i + 2])  # an escaped character opens and closes nothing
            if ctx == _S:
                _inner(stack[-2], c)
                _inner(stack[-2], command[i + 1])
            elif ctx != _D:
                _inner(top, command[i + 1])
            i += 2
            continue
        m = _REF.match(command, i) if c in "{$" else None
        if m and m.group(3) and not m.group(2):
            inner_double = ctx == _S and stack[-2][2] == _D
            out.append(put(m.group(3), _SD if inner_double else ctx))
            i = m.end()
            continue
        if m:  # `{{name}}` is a literal `{name}`; `${name}` is the shell's
            out.append("{" + m.group(1) + "}" if m.group(1) is not None else m.group(0))
            i = m.end()
            continue
        if c == "#" and ctx != _D and ctx != _S and (not i or command[i - 1] in _BREAKS):
            end = command.find("\n", i)  # a comment, to the end of its line
            end = n if end < 0 else end
            out.append(command[i:end])
            i = end
            continue
        if ctx == _S:
            if c == "'":
                stack.pop()
            else:
                _inner(stack[-2], c)
        elif c == "$" and command.startswith("$(", i):
            stack.append([_SUB, 0, _U, 0])
            out.append("$(")
            i += 2
            continue
        elif c == "`":
            if ctx == _BQ:
                stack.pop()
            else:
                stack.append([_BQ, 0, _U, 0])
        elif ctx == _D:
            if c == '"':
                stack.pop()
        elif c == '"':
            stack.append([_D, 0, _U, 0])
        elif c == "'":
            stack.append([_S, 0, _U, 0])
        elif c in _BREAKS:
            top[2:] = [_U, 0]  # a new word
            if ctx == _SUB and c == "(":
                top[1] += 1
            elif ctx == _SUB and c == ")":
                if top[1]:
                    top[1] -= 1
                else:
                    stack.pop()
        out.append(c)
        i += 1
    if len(stack) > 1:
        what = {_S: "'", _D: '"', _SUB: "$(", _BQ: "`"}[stack[-1][0]]
        raise ValueError(f"no closing {'`)`' if what == '$(' else what} for a `{what}`")
    return "".join(out)


def _here_operator(command: str, i: int) -> tuple[int, tuple[str, bool, bool] | None]:
    """At `<<` (or `<<-`): where its delimiter word ends, and (delimiter, quoted, strip
    tabs) for the body to come; None where no word follows (left to the shell to refuse)."""
    n = len(command)
    j = i + 2
    strip = command.startswith("-", j)
    j += strip
    while j < n and command[j] in " \t":
        j += 1
    word, quoted = [], False
    while j < n and command[j] not in _BREAKS:
        ch = command[j]
        if ch in "'\"":
            close = command.find(ch, j + 1)
            if close < 0:
                raise ValueError(f"no closing {ch} for a `{ch}`")
            word.append(command[j + 1 : close])
            quoted, j = True, close + 1
        elif ch == "\\" and j + 1 < n:
            word.append(command[j + 1])
            quoted, j = True, j + 2
        else:
            word.append(ch)
            j += 1
    return (j, ("".join(word), quoted, strip)) if word else (j, None)


def _here_bodies(
    command: str,
    i: int,
    pending: list[tuple[str, bool, bool]],
    put: Callable[[str, str], str],
    out: list[str],
) -> int:
    """Copy the bodies of the `pending` here-documents, from `i` (the line after their
    operators), each up to its delimiter line; where the last one ends."""
    n = len(command)
    for k, (delimiter, quoted, strip) in enumerate(pending):
        start = i
        while i < n:
            end = command.find("\n", i)
            end = n if end < 0 else end
            line = command[i:end]
            if (line.lstrip("\t") if strip else line) == delimiter:
                out.append(_here_body(command[start:i], quoted, put))
                out.append(line)
                i = end
                break
            i = end + 1
        else:  # no delimiter line: the body runs to the end, as the shell reads it
            out.append(_here_body(command[start:], quoted, put))
            return n
        if i < n and k < len(pending) - 1:  # the next body starts after this delimiter line
            out.append("\n")
            i += 1
    return i


def _here_body(text: str, quoted: bool, put: Callable[[str, str], str]) -> str:
    """A here-document's body with its placeholders: expanded by the shell (`_HD`) unless
    its delimiter was quoted, then text for its reader, as in single quotes."""
    out: list[str] = []
    inner = [_S, 0, _U, 0]  # a shell reading a quoted body as its script: its quotes
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and not quoted:
            out.append(text[i : i + 2])
            i += 2
            continue
        m = _REF.match(text, i) if c in "{$" else None
        if m and m.group(3) and not m.group(2):
            ctx = (_SD if inner[2] == _D else _S) if quoted else _HD
            out.append(put(m.group(3), ctx))
            i = m.end()
            continue
        if m:
            out.append("{" + m.group(1) + "}" if m.group(1) is not None else m.group(0))
            i = m.end()
            continue
        if quoted:
            _inner(inner, c)
        out.append(c)
        i += 1
    return "".join(out)


def _reference(name: str, ctx: str) -> str:
    var = "${" + env_name(name) + "}"
    return var if ctx in (_D, _SD, _HD) else f'"{var}"'


def script(command: str) -> str:
    """What runs: `command` with each `{name}` a reference to its environment variable."""
    return _render(command, _reference)


def shown(command: str, values: Mapping[str, str]) -> str:
    """The command as written with its values in, quoted where they sit, so that typed into a
    shell it does what `script` does (for people: dry runs, the `runs:` line). In single
    quotes the reference stays: no value is put there, and the display says so."""

    def value(name: str, ctx: str) -> str:
        v = values.get(name, "")
        if ctx in (_S, _SD):
            return _reference(name, ctx)
        if ctx == _D:
            return re.sub(r'([\\"$`])', r"\\\1", v)
        if ctx == _HD:  # the shell expands a here-document's body: `"` is no quote there
            return re.sub(r"([\\$`])", r"\\\1", v)
        return shlex.quote(v) if v else "''"

    return _render(command, value)


def ref_problem(name: str, value: str) -> str | None:
    """Why `value` cannot be the ref `{name}` holds, as `git check-ref-format` (and `git
    branch`, for the leading `-`) would refuse it; None when it can. A sha may be any revision
    (`main~2`), so only a leading `-` and control characters are refused there."""
    if name not in REF_VARIABLES or not value:
        return None
    why = None
    if value.startswith("-"):
        why = "it starts with '-', so a command would read it as an option"
    elif bad := next((c for c in value if ord(c) < 32 or ord(c) == 127), None):
        why = f"it holds the control character {bad!r}"
    elif name == "sha":
        why = None  # a revision: `main~2`, `v1^{commit}`; git resolves it, as data
    elif ".." in value:
        why = "it holds '..'"
    elif "@{" in value:
        why = "it holds '@{'"
    elif bad := next((c for c in value if c in " ~^:?*[\\"), None):
        why = f"it holds {bad!r}"
    elif value == "@" or value.endswith((".", "/", ".lock")) or value.startswith("/"):
        why = "git refuses ref names that start with '/', end with '.', '/' or '.lock', or are '@'"
    elif "//" in value or "/." in value or value.startswith("."):
        why = "git refuses a ref name with a part that starts with '.', or an empty part"
    if why is None:
        return None
    flag = name.replace("_", "-")
    return f"--{flag} {value!r} is not a valid git ref name: {why}"
