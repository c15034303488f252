"""Callbacks: what happens when a node enters a state, with Conducto's names and meaning.

    node.on_error(co.callback.retry(3))
    root.on_done(co.callback.slack_status("https://hooks.slack.com/services/..."))
    node.on_error(notify)            # beyond Conducto: any Python callable

`co.callback.*` builds a `Callback` (a name and its arguments, data a tree keeps through JSON);
`on_done` / `on_error` / `on_queued` / `on_running` / `on_killed` / `on_state_change` attach
it to a node. A callback with `inherited=True` also fires for the node's descendants. A Python
callable runs in the process that owns the run, with the node's result (`run[path]`). What
each one does, and where it is recorded, is run/callbacks.py's.
"""

from __future__ import annotations

import base64
import contextlib
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ..errors import ParameterError

__all__ = [
    "EVENTS",
    "Callback",
    "CallbackHolder",
    "email",
    "github_pipeline_status",
    "github_status",
    "handle_memory_errors",
    "retry",
    "retry_then_skip",
    "retry_with_double_mem",
    "skip_some_errors",
    "slack_status",
]

#: Each event and the state it fires on (None: every change).
EVENTS: dict[str, str | None] = {
    "done": "done",
    "error": "error",
    "queued": "queued",
    "running": "running",
    "killed": "killed",
    "state_change": None,
}


@dataclass(frozen=True)
class Callback:
    """One callback: `name` (a co.callback function's, or "python") and its arguments."""

    name: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    inherited: bool = False
    user_display: bool = True
    func: Callable[..., Any] | None = None  # only for name == "python"
    pickled: str | None = None  # `func` as read back from JSON, unpickled when it fires
    qualname: str | None = None

    @classmethod
    def of_callable(cls, func: Callable[..., Any], inherited: bool = False) -> Callback:
        name = getattr(func, "__qualname__", None) or repr(func)
        return cls("python", MappingProxyType({}), inherited, True, func, None, name)

    def callable(self) -> Callable[..., Any]:
        """The Python callable of a "python" callback: in the process that attached it, the
        very object (its closure's lists and counters are the user's); elsewhere, unpickled."""
        if self.func is not None:
            return self.func
        if self.qualname is not None and (here := _HERE.get(self.pickled or "")) is not None:
            return here
        import cloudpickle

        assert self.pickled is not None
        func: Callable[..., Any] = cloudpickle.loads(base64.b64decode(self.pickled))
        return func

    @property
    def label(self) -> str:
        if self.name == "python":
            return self.qualname or "a Python callable"
        args = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())
        return f"{self.name}({args})"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "kwargs": dict(self.kwargs)}
        if self.inherited:
            out["inherited"] = True
        if not self.user_display:
            out["user_display"] = False
        if self.name == "python":
            out["qualname"] = self.qualname
            from .pickling import dumps  # lazy: cloudpickle

            out["pickled"] = self.pickled or base64.b64encode(dumps(self.func)).decode()
            if self.func is not None:
                # an object that takes no weak reference is called as a copy elsewhere
                with contextlib.suppress(TypeError):
                    _HERE[out["pickled"]] = self.func
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Callback:
        return cls(
            str(data["name"]),
            MappingProxyType(dict(data.get("kwargs") or {})),
            bool(data.get("inherited")),
            bool(data.get("user_display", True)),
            None,
            data.get("pickled"),
            data.get("qualname"),
        )


#: The callables attached in this process, by their pickled form, while they live: a run's
#: copy of the tree (made through JSON) calls the user's own object, not a copy of it.
_HERE: weakref.WeakValueDictionary[str, Callable[..., Any]] = weakref.WeakValueDictionary()


#: Callbacks added to any node so far: a run whose tree had none looks again only when it grew.
ADDED = [0]


class CallbackHolder:
    """The `on_*` methods of every node: (event, Callback) pairs, in the order attached."""

    _callbacks: list[tuple[str, Callback]]

    @property
    def callbacks(self) -> tuple[tuple[str, Callback], ...]:
        return tuple(getattr(self, "_callbacks", ()))

    def on_done(self, callback: Callback | Callable[..., Any]) -> None:
        """Call `callback` when this node enters the "done" state."""
        self._add_callback("done", callback)

    def on_error(self, callback: Callback | Callable[..., Any]) -> None:
        """Call `callback` when this node enters the "error" state."""
        self._add_callback("error", callback)

    def on_queued(self, callback: Callback | Callable[..., Any]) -> None:
        self._add_callback("queued", callback)

    def on_running(self, callback: Callback | Callable[..., Any]) -> None:
        self._add_callback("running", callback)

    def on_killed(self, callback: Callback | Callable[..., Any]) -> None:
        self._add_callback("killed", callback)

    def on_state_change(self, callback: Callback | Callable[..., Any]) -> None:
        """Call `callback` whenever this node's state changes."""
        self._add_callback("state_change", callback)

    def _add_callback(self, event: str, callback: Callback | Callable[..., Any]) -> None:
        if not isinstance(callback, Callback):
            if not callable(callback):
                raise ParameterError(
                    f"on_{event} takes a co.callback.* callback or a Python callable, "
                    f"not {callback!r}"[:200],
                    param=f"on_{event}",
                )
            callback = Callback.of_callable(callback)
        if not hasattr(self, "_callbacks"):
            self._callbacks = []
        self._callbacks.append((event, callback))
        ADDED[0] += 1


def _make(name: str, inherited: bool, user_display: bool, **kwargs: Any) -> Callback:
    return Callback(name, MappingProxyType(kwargs), inherited, user_display)


def _count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ParameterError(f"co.callback.{name}: a count of 0 or more, not {value!r}")
    return value


def retry(max_num_retries: int, *, inherited: bool = False, user_display: bool = True) -> Callback:
    """If the node fails, rerun it, up to `max_num_retries` times."""
    n = _count("retry", max_num_retries)
    return _make("retry", inherited, user_display, max_num_retries=n)


def retry_then_skip(
    max_num_retries: int, *, inherited: bool = False, user_display: bool = True
) -> Callback:
    """If the node fails, rerun it up to `max_num_retries` times; then skip it."""
    n = _count("retry_then_skip", max_num_retries)
    return _make("retry_then_skip", inherited, user_display, max_num_retries=n)


def retry_with_double_mem(
    max_num_retries: int, *, inherited: bool = False, user_display: bool = True
) -> Callback:
    """If the node fails, rerun it with twice the memory, up to `max_num_retries` times and up
    to the machine's memory (or $CONDUCTO_NB_MAX_MEM, in GB)."""
    n = _count("retry_with_double_mem", max_num_retries)
    return _make("retry_with_double_mem", inherited, user_display, max_num_retries=n)


def skip_some_errors(
    max_num_errors: int, *, inherited: bool = False, user_display: bool = True
) -> Callback:
    """If the node fails with at most `max_num_errors` failed Execs below it, skip those and go
    on without them."""
    n = _count("skip_some_errors", max_num_errors)
    return _make("skip_some_errors", inherited, user_display, max_num_errors=n)


def handle_memory_errors(
    mem_limits: tuple[float, float] = (8, 32),
    max_duration: float = 3600,
    *,
    inherited: bool = False,
    user_display: bool = True,
) -> Callback:
    """On an out-of-memory failure only: rerun with twice the memory while it stays within
    `mem_limits[1]` GB and the attempt took at most `max_duration` seconds (below
    `mem_limits[0]` always, above it once)."""
    low, high = (float(x) for x in mem_limits)
    return _make(
        "handle_memory_errors",
        inherited,
        user_display,
        mem_limits=[low, high],
        max_duration=float(max_duration),
    )


def email(
    to: str | list[str] | None = None,
    cc: str | list[str] | None = None,
    *,
    inherited: bool = False,
    user_display: bool = True,
) -> Callback:
    """Send a summary of the node by email (SMTP: $CONDUCTO_NB_SMTP_* or the [smtp] section of
    ~/.conducto_nb/config)."""
    return _make("email", inherited, user_display, to=to, cc=cc)


def slack_status(
    recipient: str,
    message: str | None = None,
    node_summary: bool = False,
    *,
    inherited: bool = False,
    user_display: bool = True,
) -> Callback:
    """Post the node's state to Slack through an incoming webhook: `recipient` is the webhook
    URL, or a channel when the URL is configured ($CONDUCTO_NB_SLACK_WEBHOOK)."""
    return _make(
        "slack_status",
        inherited,
        user_display,
        recipient=recipient,
        message=message,
        node_summary=node_summary,
    )


def github_status(
    url: str, sha: str, *, inherited: bool = False, user_display: bool = True
) -> Callback:
    """Set a GitHub commit status for `sha` of the repository at `url` (a token in
    $CONDUCTO_NB_GITHUB_TOKEN or $GITHUB_TOKEN; the API at $CONDUCTO_NB_GITHUB_API)."""
    return _make("github_status", inherited, user_display, url=url, sha=sha)


def github_pipeline_status(
    url: str, sha: str, *, inherited: bool = False, user_display: bool = True
) -> Callback:
    """As github_status, for the whole pipeline: its counts of nodes in each state."""
    return _make("github_pipeline_status", inherited, user_display, url=url, sha=sha)
