"""The nodes that run something: Exec (a shell command or a Python callable) and Lazy (a node
whose subtree is generated when it runs), and the Command they carry.

A callable travels as cloudpickle bytes, so a function defined in a notebook cell runs in a
worker process or container; the bytes are kept as they came, so a tree read back from JSON
serialises to the same JSON without importing anything.
"""

from __future__ import annotations

import base64
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import CommandError, SerializationError, suggest
from ..shared.log import unindent
from . import params as P
from .nodes import Node, Serial

__all__ = ["GENERATE_ENV", "Command", "Exec", "Lazy"]

#: Set in a Lazy command's environment: a co.main script then prints its tree as JSON.
GENERATE_ENV = "CONDUCTO_NB_GENERATE"

#: `co.Exec()` with no command: reported with the node's path when it is checked.
NO_COMMAND: Any = type("NoCommand", (), {"__repr__": lambda self: "nothing"})()


@dataclass
class Command:
    """What an Exec runs: `shell` text, or a pickled `(function, args, kwargs)` call."""

    shell: str | None = None
    display: str = ""
    _pickled: bytes | None = field(default=None, repr=False)
    _call: tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]] | None = field(
        default=None, repr=False
    )

    @classmethod
    def of_shell(cls, text: str) -> Command:
        return cls(shell=text, display=text)

    @classmethod
    def of_call(
        cls, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Command:
        shown = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
        display = f"{getattr(func, '__qualname__', repr(func))}({', '.join(shown)})"
        return cls(display=display, _call=(func, args, kwargs))

    @property
    def is_call(self) -> bool:
        return self.shell is None

    def call_parts(self) -> tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]:
        """The function and its arguments, unpickled on first use."""
        if self._call is None:
            assert self._pickled is not None
            import cloudpickle  # lazy, as pickling: a tree of shell commands never needs it

            self._call = cloudpickle.loads(self._pickled)
        assert self._call is not None
        return self._call

    def pickled(self) -> bytes:
        if self._pickled is None:
            from . import pickling  # (cloudpickle: ~10 ms of imports)

            self._pickled = pickling.dumps(self.call_parts())  # keeps cells' source lines
        return self._pickled

    def to_json(self, same: dict[int, tuple[Any, bytes, str]] | None = None) -> dict[str, Any]:
        """`same` (kept for one tree's serialisation) lets Execs that call one function with
        no arguments share its pickle: a fan-out of 1,000 such nodes pickles it once."""
        if self.shell is not None:
            return {"shell": self.shell}
        return {"call": self._encoded(same), "display": self.display}

    def _encoded(self, same: dict[int, tuple[Any, bytes, str]] | None) -> str:
        call = self._call
        if same is None or call is None or call[1] or call[2] or self._pickled is not None:
            return base64.b64encode(self.pickled()).decode("ascii")
        func = call[0]
        if id(func) not in same:  # kept with the function, so its id is not reused meanwhile
            pickled = self.pickled()
            same[id(func)] = (func, pickled, base64.b64encode(pickled).decode("ascii"))
        _, self._pickled, text = same[id(func)]
        return text

    @classmethod
    def from_json(cls, data: Mapping[str, Any], decoded: dict[str, bytes] | None = None) -> Command:
        """`decoded` (kept for one tree's reading) decodes a pickle Execs share only once."""
        if not isinstance(data, Mapping):
            raise SerializationError(f"malformed Exec command {data!r}")
        if isinstance(data.get("shell"), str):
            if not data["shell"].strip():
                raise SerializationError("an Exec needs a command, got an empty string")
            return cls.of_shell(data["shell"])
        try:
            text = data["call"]
            pickled = None if decoded is None else decoded.get(text)
            if pickled is None:
                pickled = base64.b64decode(text)
                if decoded is not None:
                    decoded[text] = pickled
            return cls(display=str(data["display"]), _pickled=pickled)
        except (KeyError, TypeError, ValueError) as e:
            raise SerializationError(f"malformed Exec command {dict(data)!r}") from e


def split_kwargs(
    command: object, kwargs: dict[str, Any], params: Mapping[str, Any] | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Keyword arguments into (node parameters, callable arguments). A name the callable itself
    declares goes to the callable; `params={...}` then sets the node's parameter of that name."""
    node_kw: dict[str, Any] = {}
    call_kw: dict[str, Any] = {}
    declared = _declared_names(command) if callable(command) else set()
    for key, value in kwargs.items():
        is_param = key == "name" or key in P.PARAMS or key in P.ALIASES
        if key in declared or (callable(command) and not is_param):
            call_kw[key] = value
        else:
            node_kw[key] = value
    node_kw.update(params or {})
    return node_kw, call_kw


def _declared_names(func: object) -> set[str]:
    try:
        sig = inspect.signature(func)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return set()
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {p.name for p in sig.parameters.values() if p.kind in kinds}


class Exec(Node):
    """Runs a shell command, `Exec("pytest -x")`, or a Python callable with its arguments,
    `Exec(build_report, "out.html", cpu=2)`: keywords that are node parameters configure the
    node, the rest go to the callable."""

    kind = "exec"
    _ATTRIBUTES = frozenset({"command_obj"})
    command_obj: Command
    #: Set on a Lazy node's `Generate` child: its outcome is a tree to graft.
    generates: bool = False

    def __init__(
        self,
        command: str | Callable[..., Any] = NO_COMMAND,
        *args: Any,
        params: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        node_kw, call_kw = split_kwargs(command, kwargs, params)
        self._setup((command, args, call_kw), Command(), node_kw)

    def _setup(
        self,
        pending: tuple[Any, tuple[Any, ...], dict[str, Any]] | None,
        command: Command,
        node_kw: dict[str, Any],
    ) -> None:
        self._pending = pending
        self.command_obj = command
        self.generates = False
        Node.__init__(self, **node_kw)

    @classmethod
    def _unrouted(
        cls, command: object, args: tuple[Any, ...], call_kw: dict[str, Any], **node_kw: Any
    ) -> Exec:
        """An Exec whose keywords are already split into callable and node ones."""
        node = cls.__new__(cls)
        node._setup((command, args, call_kw), Command(), node_kw)
        return node

    @classmethod
    def _of(cls, command: Command, **node_kw: Any) -> Exec:
        """An Exec around an existing Command (deserialisation)."""
        node = cls.__new__(cls)
        node._setup(None, command, node_kw)
        return node

    def _validate(self) -> None:
        if self._pending is None:
            return
        command, args, call_kw = self._pending
        self._pending = None
        if command is NO_COMMAND:
            raise CommandError(
                "an Exec needs a command: a shell string or a Python callable", path=self.path
            )
        if isinstance(command, str):
            if not command.strip():
                raise CommandError("an Exec needs a command, got an empty string", path=self.path)
            if "\0" in command:  # refused now, not when a shell cannot take it
                raise CommandError("the command contains a NUL byte (\\0)", path=self.path)
            if args or call_kw:
                raise CommandError(
                    "a shell command takes no extra arguments; put them in the command string",
                    path=self.path,
                )
            # Conducto's reading: a command written indented in a script runs unindented
            self.command_obj = Command.of_shell(unindent(command))
        elif callable(command):
            _check_binds(command, args, call_kw, self.path)
            self.command_obj = Command.of_call(command, args, call_kw)
        else:
            raise CommandError(
                f"an Exec needs a shell command or a callable, not {command!r}", path=self.path
            )

    def _default_name(self) -> str:
        command = self._pending[0] if self._pending else self.command_obj.display
        return _derived_name(command, "exec")

    @property
    def command(self) -> str:
        """The shell command, or how the callable is called, e.g. `build_report('out.html')`."""
        return self.command_obj.display

    @command.setter
    def command(self, command: str | Callable[..., Any]) -> None:
        """Conducto's `node.command = "python fixed.py"`: a new command, checked as one given
        to the constructor is; a bad one raises and leaves the node's own in place."""
        self._pending = (command, (), {})
        try:
            self._validate()
        finally:
            self._pending = None

    def _describe(self) -> str:
        lines = [line for line in self.command.strip().splitlines() if line.strip()]
        shown = (lines[0] + " …") if len(lines) > 1 else (lines[0] if lines else "")
        return f"Exec: {shown}" + ("  (generates the Lazy subtree)" if self.generates else "")


def _derived_name(command: object, fallback: str) -> str:
    """A callable's name, or a command's program: `pytest tests/unit` -> `pytest`."""
    if callable(command):
        return str(getattr(command, "__name__", fallback))
    words = command.split() if isinstance(command, str) else []
    return words[0].rsplit("/", 1)[-1] if words else fallback


def _check_binds(
    func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], path: str
) -> None:
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return  # a builtin without a signature: it will say so when called
    try:
        sig.bind(*args, **kwargs)
    except TypeError as e:
        name = getattr(func, "__qualname__", repr(func))
        takes_any = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
        unknown = [k for k in kwargs if k not in sig.parameters and not takes_any]
        hint = suggest(unknown[0], [*P.PARAMS, *sig.parameters]) if unknown else ""
        bare = sig.replace(  # `f(path, *, fmt='html')`: annotations may be strings, and noise
            parameters=[p.replace(annotation=p.empty) for p in sig.parameters.values()],
            return_annotation=sig.empty,
        )
        raise CommandError(
            f"`{name}{bare}` cannot be called with these arguments: {e}{hint}", path=path
        ) from None


class Lazy(Serial):
    """A subtree made when the pipeline reaches it. Its `Generate` child runs the callable (which
    returns a node) or the command (which prints a serialised tree); the scheduler then grafts
    that tree in as the `Execute` child. As in Conducto, `Lazy(func, *args, **kwargs)`."""

    def __init__(
        self,
        command: str | Callable[..., Any] = NO_COMMAND,
        *args: Any,
        params: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        node_kw, call_kw = split_kwargs(command, kwargs, params)
        self._generator: tuple[Any, tuple[Any, ...], dict[str, Any]] | None = (
            command,
            args,
            call_kw,
        )
        super().__init__(**node_kw)

    def _validate(self) -> None:
        if self._generator is None:  # deserialised: the children come from the JSON
            return
        command, args, call_kw = self._generator
        self._generator = None
        with self:  # children are checked under their real paths (/.../Generate)
            generate = Exec._unrouted(command, args, call_kw, name="Generate")
            generate.generates = True
            Serial(name="Execute").awaiting_generation = True

    @classmethod
    def _empty(cls, **node_kw: Any) -> Lazy:
        node = cls.__new__(cls)
        node._generator = None
        Serial.__init__(node, **node_kw)
        return node

    def _default_name(self) -> str:
        return _derived_name(self._generator[0] if self._generator else None, "lazy")

    def _describe(self) -> str:
        return "Lazy"
