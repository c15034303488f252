"""A command a shell would only split into words and run, told apart from everything else, so
a backend can run it without starting a shell first (as GNU make does for such lines).

A shell node's command is shell text. Most CI commands (`pytest tests/unit`, `ruff check .`,
`pip install -e .`) use none of the shell: `sh -c` then costs a whole extra program start per
node (~1 ms here, more than the rest of a local node's overhead). `simple_words` says when the
words alone say everything the shell would do: only characters no POSIX shell treats
specially, one line, no variable assignment, and a first word that is no shell builtin or
reserved word (a builtin such as `echo` can differ from the program of the same name) nor
looks like an option. What it returns the shell would have run exactly so; the backend still
falls back to the shell wherever running the words fails (a program not on PATH, a script
without `#!`), so the shell's own message and exit code stay what the user sees. The
program's environment is the one the shell would pass on (the local backend sets PWD as dash
does), but for SHLVL, which shells such as busybox ash count up and a program does not.
"""

from __future__ import annotations

import string

__all__ = ["SHELL_WORDS", "simple_words"]

#: Characters that mean nothing to a POSIX shell in any position, and the blanks between words
#: (`=` is checked apart: it makes the first word an assignment; `~`, `#`, `!`, `^`, quotes,
#: newlines and the rest are left out).
_PLAIN = frozenset(string.ascii_letters + string.digits + "-_./,:+@%= \t")

#: Builtins and reserved words of dash, busybox ash and bash: a first word among these is the
#: shell's, not a program's.
SHELL_WORDS = frozenset(
    """. : [ [[ alias bg break builtin case cd chdir command continue declare do done echo elif
    else esac eval exec exit export false fc fg fi for function getopts hash if in jobs kill
    let local printf pwd read readonly return select set shift source test then time times
    trap true type typeset ulimit umask unalias unset until wait while""".split()  # noqa: SIM905
)


def simple_words(command: str) -> list[str] | None:
    """The words a shell would run `command` as, when it would run them as one program with
    nothing else done; None when the shell does more (or might)."""
    if not _PLAIN.issuperset(command):
        return None
    words = command.split()
    if not words or "=" in words[0] or words[0] in SHELL_WORDS or words[0].startswith("-"):
        return None
    return words
