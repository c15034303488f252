"""Every error conducto_nb raises, so a user has one thing to catch.

The hierarchy::

    PipelineError                 anything conducto_nb reports; catch this one
    ├── TreeError                 the shape of the tree: duplicate or bad names, re-parenting
    │   └── NodeNotFound          no node at that path (also a KeyError)
    ├── ParameterError            an unknown parameter, a wrong type or range (also a ValueError)
    ├── CommandError              an Exec with no command, or arguments its callable cannot bind
    ├── SerializationError        a serialised tree that cannot be read back
    ├── ActionError               an action the pipeline cannot take now (reset while running...)
    ├── BackendError              a backend cannot run jobs (no Docker daemon, a worker died...)
    │   └── ImageBuildError       a co.Image did not build: carries the build's last log lines
    ├── ConfigError               a `.conducto.cfg` that cannot be used: names its file and line
    ├── StoreError                the pipeline store cannot be read or written
    │   └── PipelineNotFound      no pipeline with that id (also a KeyError)
    └── DataError                 co.data refused: a bad object name, a wrong token, no service
        └── DataNotFound          no object of that name in that scope (also a FileNotFoundError)

Each message names the node path and the parameter in backticks, e.g.
``/test/unit: unknown parameter `cpus` (did you mean `cpu`?)``; `suggest` words that hint.
"""

from __future__ import annotations

import functools
import os
import sys
import traceback
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

__all__ = [
    "ActionError",
    "BackendError",
    "CommandError",
    "ConfigError",
    "DataError",
    "DataNotFound",
    "ImageBuildError",
    "NodeNotFound",
    "ParameterError",
    "PipelineError",
    "PipelineNotFound",
    "SerializationError",
    "StoreError",
    "TreeError",
    "install_excepthook",
    "suggest",
    "user_traceback",
]

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep
_FULL = "CONDUCTO_NB_TRACEBACK"


class PipelineError(Exception):
    """Base of every conducto_nb error; `path` is the node it concerns, when there is one."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}" if path else message)

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return self.args[0] if self.args else ""

    def _render_traceback_(self) -> list[str]:
        """What IPython shows for this error (it asks for this method by name): the user's own
        frames and the message, not the frames inside conducto_nb that only carried it up,
        nor IPython's own."""
        import IPython

        return user_traceback(self, hide=(os.path.dirname(IPython.__file__) + os.sep,))


class TreeError(PipelineError):
    """The tree's shape is wrong: a duplicate child name, a '/' in a name, a node in two trees."""


class NodeNotFound(TreeError, KeyError):
    """No node lives at the requested path."""


class ParameterError(PipelineError, ValueError):
    """A node parameter is unknown, misplaced, or has a wrong type or range."""

    def __init__(self, message: str, *, path: str | None = None, param: str | None = None) -> None:
        self.param = param
        super().__init__(message, path=path)


class CommandError(PipelineError):
    """An Exec cannot run as written: no command, or arguments its callable does not accept."""


class SerializationError(PipelineError):
    """A serialised tree is malformed or from an unknown format version."""


class ActionError(PipelineError):
    """An action (run, rerun, reset, skip, unskip, kill) cannot be taken in the node's state."""


class BackendError(PipelineError):
    """A backend cannot run jobs: its daemon is down, a worker died, a pool cannot start."""


class ImageBuildError(BackendError):
    """A `co.Image` cannot be built: its files cannot be read, or Docker's build failed (a
    RUN exited non-zero, a package is unknown, the base cannot be pulled). The message ends
    with the build's last log lines, so the cause shows where the error is shown."""


class ConfigError(PipelineError):
    """A `.conducto.cfg` is broken (syntax, unknown event, key or variable, bad filter) or names
    an unknown event; the message starts `file:line:` so an editor can jump there."""

    def __init__(self, message: str, filename: str | None = None, line: int | None = None) -> None:
        self.filename = filename
        self.line = line
        where = f"{filename}:{line}: " if filename and line else f"{filename}: " if filename else ""
        super().__init__(where + message)


class StoreError(PipelineError):
    """The pipeline store (sqlite under $CONDUCTO_NB_HOME) cannot be read or written."""


class PipelineNotFound(StoreError, KeyError):
    """No pipeline with that id in the store."""


class DataError(PipelineError):
    """co.data cannot do what was asked: the object name is bad (`..`, absolute, NUL), the
    data service refused the token or cannot be reached, or pipeline data was asked for
    outside any pipeline."""


class DataNotFound(DataError, FileNotFoundError):
    """No object of that name in that scope (pipeline or user); the message names both.
    Also a FileNotFoundError, which Conducto's local data raised."""


def suggest(name: str, choices: Iterable[str]) -> str:
    """' (did you mean `cpu`?)' for a near miss, else ''."""
    import difflib  # only for a mistake: not at every import

    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean `{close[0]}`?)" if close else ""


def user_traceback(error: BaseException, hide: tuple[str, ...] = ()) -> list[str]:
    """`error`'s traceback as lines, without the frames of conducto_nb (or of the folders in
    `hide`), nor the standard library's that carried it within conducto_nb (a thread's
    future): what the user's code did, then the one message that says what is wrong."""
    frames, inside = [], False
    for frame in traceback.extract_tb(error.__traceback__):
        if frame.filename.startswith((_PACKAGE, *hide)):
            inside = True
        elif not (inside and _carrier(frame.filename)):
            frames.append(frame)
    text = "".join(traceback.format_list(frames))
    if text:
        text = "Traceback (most recent call last):\n" + text
    text += f"{type(error).__name__}: {error}"
    return text.rstrip("\n").split("\n")


def _carrier(filename: str) -> bool:
    """A frame of the standard library or an installed package (the docker SDK...): within
    conducto_nb it only carried the error; a user's own code called back stays."""
    return filename.startswith(_stdlib()) or any(
        part in ("site-packages", "dist-packages") for part in filename.split(os.sep)
    )


@functools.cache
def _stdlib() -> str:
    import sysconfig  # only when an error is shown: ~2 ms of every import otherwise

    return os.path.realpath(sysconfig.get_paths()["stdlib"]) + os.sep


def show_briefly(previous: Callable[..., Any]) -> Callable[..., Any]:
    """A `sys.excepthook` that shows an uncaught PipelineError of a script as IPython shows it
    (user_traceback: the user's frames and the message) and passes anything else to
    `previous`; $CONDUCTO_NB_TRACEBACK=full shows every frame."""

    def hook(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> Any:
        if not isinstance(error, PipelineError) or os.environ.get(_FULL) == "full":
            return previous(kind, error, tb)
        print("\n".join(user_traceback(error)), file=sys.stderr)
        return None

    return hook


def install_excepthook() -> None:
    """Show uncaught PipelineErrors briefly (show_briefly), unless a program installed a hook
    of its own (IPython needs none: it asks the error, `_render_traceback_`)."""
    if sys.excepthook is sys.__excepthook__:
        sys.excepthook = show_briefly(sys.excepthook)
