"""`%co_debug` and `%%co_debug`, registered by `%load_ext conducto_nb`:

    %co_debug /test/unit                  # the node's container, its command in /conducto/cmd.sh
    %co_debug run /test/unit --failed     # run it there and keep the state it failed in
    %co_debug 20261205-abc /build --live  # another pipeline; the host's code mounted read-write
    %%co_debug /test/unit --as fix        # the cell body as the node's command, run there
    fix.apply()                           # ...written into the node, which runs again

RUN is a variable holding a Run or a pipeline id; without it, the run last started or shown.
Each magic returns its session (`.run()`, `.exec(cmd)`, `.logs()`, `.stop()`, `.apply()`).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class

from ..run.runs import Run
from .session import DebugSession
from .start import debug, find_run

__all__ = ["DebugMagics", "Request", "parse"]

_USAGE = "usage: %co_debug [RUN] PATH [--failed] [--live] [--as NAME]"


@dataclass
class Request:
    """What one magic line asks for."""

    run: str | None
    path: str
    failed: bool = False
    live: bool = False
    name: str | None = None


def parse(line: str) -> Request:
    """The magic's arguments; a UsageError (one line, no traceback) when they are wrong."""
    try:
        words = shlex.split(line)
    except ValueError as e:
        raise UsageError(f"{_USAGE} ({e})") from None
    flags = {"--failed": False, "--live": False}
    name, places = None, []
    i = 0
    while i < len(words):
        word = words[i]
        if word in flags:
            flags[word] = True
        elif word == "--as":
            if i + 1 >= len(words) or not words[i + 1].isidentifier():
                raise UsageError(f"--as needs a variable name; {_USAGE}")
            name, i = words[i + 1], i + 1
        elif word.startswith("-") and not word.startswith("/"):
            raise UsageError(f"unknown option {word!r}; {_USAGE}")
        else:
            places.append(word)
        i += 1
    if len(places) not in (1, 2):
        raise UsageError(f"expected a node's PATH, and optionally a RUN before it; {_USAGE}")
    run, path = (None, places[0]) if len(places) == 1 else (places[0], places[1])
    return Request(run, path, flags["--failed"], flags["--live"], name)


@magics_class
class DebugMagics(Magics):
    """The magics; `_cells` holds each node's cell session, replaced when the cell runs again."""

    def __init__(self, shell: Any) -> None:
        super().__init__(shell)
        self._cells: dict[tuple[str, str], DebugSession] = {}

    @line_cell_magic
    def co_debug(self, line: str, cell: str | None = None) -> DebugSession:
        """Debug a node of a pipeline in its own container (or, on the local backend, a shell
        environment): %co_debug [RUN] PATH [--failed] [--live] [--as NAME]."""
        request = parse(line)
        run = self._run(request.run)
        if cell is None:
            session = debug(run, request.path, failed=request.failed, live=request.live)
        else:
            session = self._cell(run, request, cell)
        if request.name:
            self._namespace()[request.name] = session
        return session

    def _run(self, name: str | None) -> Run:
        """A variable holding a Run, else a pipeline id, else the last run."""
        held = self._namespace().get(name) if name is not None else None
        return held if isinstance(held, Run) else find_run(name)

    def _namespace(self) -> dict[str, Any]:
        assert self.shell is not None  # magics are registered on a shell
        return self.shell.user_ns  # type: ignore[no-any-return]

    def _cell(self, run: Run, request: Request, cell: str) -> DebugSession:
        """Run the cell body as the node's command in a fresh session (the cell's previous
        one, if any, is stopped first: each edit starts from the node's state)."""
        if not cell.strip():
            raise UsageError("%%co_debug runs the cell body as the node's command: it is empty")
        key = (run.id, "/" + request.path.strip("/"))
        previous = self._cells.pop(key, None)
        if previous is not None:
            previous.stop()
        session = debug(run, request.path, live=request.live, command=cell, echo=False)
        self._cells[key] = session
        if session.spec.earlier:
            steps = ", ".join(job.path for job in session.spec.earlier)
            print(f"replayed what runs before it in its NEW reuse subtree: {steps}")
        where = f"{session.where} ({session.entering()})"
        print(f"running the cell as {session.path}'s command in {where}")
        ran = session.run()
        print(f"exit code {ran.exit_code}; .apply() writes this command into {session.path}")
        return session
