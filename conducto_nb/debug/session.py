"""What every debug session offers, in a container (docker.py) or in a local shell
(local.py): run the node's command, run any command beside it, read what they printed, put an
edited command back into the node (Conducto's "modify") and stop.

Everything a session prints goes to this process's stdout as it comes (in a notebook, the
cell that runs it), line by line with the run's secrets masked, and is kept for `logs()`.
"""

from __future__ import annotations

import abc
import codecs
import shlex
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from ..model.secrets import mask
from ..run.runs import Run
from .spec import NodeSpec

__all__ = ["CMD_PATH", "OPEN", "DebugSession", "Ran"]

#: Where a session keeps the node's command (in a container: this path itself).
CMD_PATH = "/conducto/cmd.sh"
#: Starts boot.py's control lines (a callable's result): not shown.
CALL_MARK = "@@co_debug@@"
TAIL_LINES = 10  # of output shown after a command that failed
#: The sessions of this process not stopped yet (stopped at exit: start.py).
OPEN: list[DebugSession] = []
_OPEN_LOCK = threading.Lock()


@dataclass(frozen=True)
class Ran:
    """How one command ended in a debug session: its exit code and what it printed (secrets
    masked)."""

    exit_code: int
    output: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def tail(self, lines: int = TAIL_LINES) -> str:
        return "\n".join(self.output.rstrip("\n").split("\n")[-lines:])

    def __repr__(self) -> str:  # the output was printed as it came: not again
        return f"Ran(exit_code={self.exit_code})"


class _Printer:
    """Prints output as it comes, a line at a time so a secret split across chunks is still
    masked; keeps what it printed."""

    def __init__(self, secrets: Iterable[str], echo: bool) -> None:
        self.secrets = [s for s in secrets if s]
        self.hide = CALL_MARK
        self.echo = echo
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.partial = ""
        self.kept: list[str] = []

    def feed(self, data: bytes, final: bool = False) -> None:
        text = self.partial + self.decoder.decode(data, final)
        cut = len(text) if final else text.rfind("\n") + 1
        self.partial = text[cut:]
        if cut:
            lines = text[:cut].splitlines(keepends=True)
            shown = "".join(line for line in lines if not line.startswith(self.hide))
            if shown:
                self._out(mask(shown, self.secrets))

    def _out(self, text: str) -> None:
        self.kept.append(text)
        if self.echo:
            sys.stdout.write(text)
            sys.stdout.flush()

    @property
    def text(self) -> str:
        return "".join(self.kept)


class DebugSession(abc.ABC):
    """One node's debug session: `run()`, `exec(cmd)`, `logs()`, `apply()`, `stop()`."""

    #: Says where the session is ("container 1a2b3c4d5e6f", "a local shell").
    where: str = "a debug session"

    def __init__(self, spec: NodeSpec) -> None:
        with _OPEN_LOCK:
            OPEN.append(self)
        self.spec = spec
        self.command = spec.command
        self.last: Ran | None = None
        self._logs: list[str] = []
        self.stopped = False

    # -- what a user calls ---------------------------------------------------------------
    @property
    def path(self) -> str:
        return self.spec.path

    def run(self, echo: bool = True) -> Ran:
        """Run the node's command (as it stands: `set_command` may have edited it) here,
        printing its output as it comes."""
        return self._ran(self._execute(self._script_call(), echo))

    def exec(self, command: str, echo: bool = True) -> Ran:
        """Run another shell command beside the node's, with its env and working directory."""
        return self._ran(self._execute(command, echo))

    def replay(self, echo: bool = True) -> list[tuple[str, Ran]]:
        """Run the steps of the node's NEW reuse subtree that come before it, in order, each
        with its own env: the state they built is then here, as the node found it."""
        done = []
        for job in self.spec.earlier:
            exports = "".join(
                f"export {key}={shlex.quote(value)}; "
                for key, value in job.env.items()
                if key.isidentifier() and self.spec.job.env.get(key) != value
            )
            done.append(
                (job.path, self._ran(self._execute(exports + (job.command.shell or ""), echo)))
            )
        return done

    def logs(self) -> str:
        """Everything run here printed so far (secrets masked)."""
        return "".join(self._logs)

    def set_command(self, command: str) -> None:
        """Make `command` the node's command in this session (the file `run()` runs)."""
        self.command = command
        self._write_command()

    def apply(self) -> Run:
        """Write this session's command into the node (Conducto's "modify") and run it again in
        its pipeline; returns the run (`.wait()` for it)."""
        run = self.spec.run
        changed = self.command != self.spec.command
        run.modify(self.path, command=self.command if changed else None)
        self.spec.command = self.command
        return run

    def stop(self) -> None:
        """End the session and remove what it started; stopping twice is fine."""
        if not self.stopped:
            self.stopped = True
            with _OPEN_LOCK:
                if self in OPEN:
                    OPEN.remove(self)  # and no longer holds its run
            self._remove()

    def __enter__(self) -> DebugSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "stopped" if self.stopped else self.where
        return f"<co_debug {self.path} of {self.spec.run.id}: {state}>"

    # -- what a kind of session does ---------------------------------------------------------
    @abc.abstractmethod
    def _execute(self, command: str, echo: bool) -> Ran:
        """Run `command` with `sh -c`, its output through a _Printer."""

    @abc.abstractmethod
    def _write_command(self) -> None:
        """Put `self.command` where `_script_call()` finds it."""

    @abc.abstractmethod
    def _remove(self) -> None:
        """Remove the container, or end what a local shell left running."""

    @abc.abstractmethod
    def entering(self) -> str:
        """How to enter the session from a terminal (a command line)."""

    def _script_call(self) -> str:
        return f"sh {shlex.quote(self.script_path)}"

    @property
    def script_path(self) -> str:
        return CMD_PATH

    # -- helpers for the kinds ------------------------------------------------------------------
    def _printer(self, echo: bool) -> _Printer:
        return _Printer(self.spec.secrets, echo)

    def _ran(self, ran: Ran) -> Ran:
        self._logs.append(ran.output)
        self.last = ran
        return ran

    def script_text(self) -> str:
        """The file the node's command lives in: a comment saying what it is, then the
        command as the node holds it."""
        head = f"# {self.path} of pipeline {self.spec.run.id}, as conducto_nb runs it\n"
        body = self.command
        if self.calls:
            body = f"# {self.spec.display}\n{self._call_line()}"
        return head + self._preamble() + body.rstrip("\n") + "\n"

    @property
    def calls(self) -> bool:
        """The node is a Python callable and its command was not replaced."""
        return self.spec.call is not None and self.command == self.spec.command

    def _call_line(self) -> str:
        """The shell line that runs the node's pickled call (a callable node)."""
        raise NotImplementedError

    def _preamble(self) -> str:
        return ""
