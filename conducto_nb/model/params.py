"""The one table of node parameters: type, default, which nodes take it, how children inherit it.

Everything else (node attributes, validation, `node.params`, serialisation, the scheduler's
limits) reads this table, so a parameter is added in exactly one place.
"""

from __future__ import annotations

import enum
import math
import re
import shlex
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..images.fields import IMAGE_NAME
from ..images.image import Image
from ..shared.types import strict_bool

if TYPE_CHECKING:
    from .nodes import Node

__all__ = [
    "PARAMS",
    "ContainerReuseContext",
    "Inherit",
    "Param",
    "SameContainer",
    "parse_duration",
    "reuse_root",
]


class ContainerReuseContext(enum.StrEnum):
    """Where a node's Execs run, as in Conducto: `NEW` gives the node's subtree one container
    of its own, in which its Execs run one at a time and build state (on an Exec: a fresh
    container for it alone; on a Parallel: its children then run one after another);
    `GLOBAL` returns a nested subtree to the shared worker pools; `INHERIT` (the default, or
    None) keeps whatever the ancestors chose."""

    INHERIT = "inherit"
    NEW = "new"
    GLOBAL = "global"


def reuse_root(node: Node) -> Node | None:
    """The NEW reuse subtree `node` belongs to (maybe `node` itself), or None: one container
    runs all of it, so an action on any of its nodes acts on all of it. A nested GLOBAL
    subtree escapes it."""
    current: Node | None = node
    while current is not None:
        context = current.own_params.get("container_reuse_context")
        if context is ContainerReuseContext.NEW:
            return current
        if context is ContainerReuseContext.GLOBAL:
            return None
        current = current.parent
    return None


class SameContainer:
    """Conducto's older name for ContainerReuseContext (`same_container=co.SameContainer.NEW`),
    with its older spelling `ESCAPE` for GLOBAL."""

    NEW = ContainerReuseContext.NEW
    GLOBAL = ESCAPE = ContainerReuseContext.GLOBAL
    INHERIT = ContainerReuseContext.INHERIT


class Inherit(enum.StrEnum):
    """How a child gets a parameter it does not set itself."""

    OVERRIDE = "nearest ancestor's value"
    MERGE = "merged key by key, nearest wins"
    NONE = "not inherited"


EXEC, SERIAL, PARALLEL = "exec", "serial", "parallel"
ALL_KINDS = frozenset({EXEC, SERIAL, PARALLEL})
CONTAINER_KINDS = frozenset({SERIAL, PARALLEL})


@dataclass(frozen=True)
class Param:
    """One row of the table. `check` normalises a user value (or its JSON form) or raises
    ValueError with a sentence that names what was expected."""

    name: str
    default: Any
    inherit: Inherit
    check: Callable[[Any], Any]
    doc: str
    kinds: frozenset[str] = ALL_KINDS


def _number(name: str, *, minimum: float, inclusive: bool) -> Callable[[Any], float]:
    def check(value: Any) -> float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if ok and math.isfinite(value) and (value >= minimum if inclusive else value > minimum):
            return float(value) if isinstance(value, float) else value
        bound = f">= {minimum:g}" if inclusive else f"> {minimum:g}"
        raise ValueError(f"`{name}` must be a number {bound}, not {value!r}")

    return check


def _integer(name: str, *, minimum: int, optional: bool = False) -> Callable[[Any], int | None]:
    def check(value: Any) -> int | None:
        if value is None and optional:
            return None
        if isinstance(value, int) and not isinstance(value, bool) and value >= minimum:
            return value
        none = " or None" if optional else ""
        raise ValueError(f"`{name}` must be an integer >= {minimum}{none}, not {value!r}")

    return check


def _boolean(name: str) -> Callable[[Any], bool]:
    def check(value: Any) -> bool:
        flag = strict_bool(value)  # Conducto's scripts pass "False" as often as False
        if flag is not None:
            return flag
        raise ValueError(f'`{name}` must be True or False (or "true"/"false"), not {value!r}')

    return check


def _text(name: str) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if value is None or isinstance(value, str):
            return value
        raise ValueError(f"`{name}` must be a string, not {type(value).__name__}")

    return check


_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _env(value: Any) -> dict[str, Any]:
    """Strings (numbers are converted) or `co.secret(NAME)` markers, resolved only at run time;
    a secret's JSON form is `{"secret": NAME}`."""
    from .secrets import Secret

    if not isinstance(value, Mapping):
        raise ValueError(f"`env` must be a dict of names to strings, not {type(value).__name__}")
    out: dict[str, Any] = {}
    for key, val in value.items():
        if not isinstance(key, str) or not _ENV_KEY.match(key):
            raise ValueError(f"`env` key {key!r} is not a valid environment variable name")
        if isinstance(val, Mapping) and set(val) == {"secret"} and isinstance(val["secret"], str):
            val = Secret(val["secret"])
        if isinstance(val, Secret):
            out[key] = val
            continue
        if isinstance(val, bool) or not isinstance(val, str | int | float):
            raise ValueError(f"`env` value of {key!r} must be a string or number, not {val!r}")
        if "\0" in str(val):  # refused now: a process's environment cannot hold one
            raise ValueError(f"`env` value of {key!r} contains a NUL byte (\\0)")
        out[key] = str(val)
    return out


def _image(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        if IMAGE_NAME.match(value):
            return value
        raise ValueError(f"`image` {value!r} is not a valid image name (like 'python:3.11-slim')")

    if isinstance(value, Image):
        return value
    if isinstance(value, Mapping):  # an Image's JSON form (a stored or sent tree)
        return Image.from_json(value)
    raise ValueError(f"`image` must be an image name or a co.Image, not {type(value).__name__}")


def _docker_run_args(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return shlex.split(value)
    if isinstance(value, Iterable) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ValueError(f"`docker_run_args` must be a string or a list of strings, not {value!r}")


_DURATION = re.compile(
    r"^(?:(\d+(?:\.\d+)?)d)?(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?"
    r"(?:(\d+(?:\.\d+)?)s?)?$"
)


def parse_duration(value: Any, name: str = "max_time") -> float:
    """Seconds from `90`, `"90s"`, `"10m"`, `"1h30m"`, `"2d"`; positive and finite."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and value.strip() and (m := _DURATION.match(value.strip())):
        d, h, mi, s = (float(g) if g else 0.0 for g in m.groups())
        seconds = d * 86400 + h * 3600 + mi * 60 + s
    else:
        raise ValueError(
            f"`{name}` must be seconds or a duration like '90s', '10m', '1h30m', not {value!r}"
        )
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"`{name}` must be a positive duration, not {value!r}")
    return seconds


def _tags(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, Iterable) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ValueError(f"`tags` must be a list of strings, not {value!r}")


def _reuse_context(value: Any) -> ContainerReuseContext:
    if value is None:  # Conducto's INHERIT
        return ContainerReuseContext.INHERIT
    try:
        return ContainerReuseContext(value)
    except ValueError:
        choices = ", ".join(f"ContainerReuseContext.{c.name}" for c in ContainerReuseContext)
        raise ValueError(
            f"`container_reuse_context` must be one of {choices}, not {value!r}"
        ) from None


_O, _M, _N = Inherit.OVERRIDE, Inherit.MERGE, Inherit.NONE
PARAMS: dict[str, Param] = {
    p.name: p
    for p in [
        Param("image", None, _O, _image, "Docker image (name or co.Image) the Exec runs in"),
        Param("cpu", 1, _O, _number("cpu", minimum=0, inclusive=False), "CPU cores reserved"),
        Param("mem", 2, _O, _number("mem", minimum=0, inclusive=False), "memory limit in GB"),
        Param("gpu", 0, _O, _integer("gpu", minimum=0), "GPUs reserved"),
        Param("env", {}, _M, _env, "environment variables; a child's keys win"),
        Param(
            "requires_docker",
            False,
            _O,
            _boolean("requires_docker"),
            "give the container the Docker daemon's socket",
        ),
        Param(
            "docker_run_args", [], _O, _docker_run_args, "extra `docker run` flags (allowlisted)"
        ),
        Param("max_time", 4 * 3600, _O, parse_duration, "kill the Exec after this long"),
        Param("retries", 0, _O, _integer("retries", minimum=0), "extra attempts after a failure"),
        Param(
            "max_concurrent",
            None,
            _N,
            _integer("max_concurrent", minimum=1, optional=True),
            "cap on Execs running at once below this node",
            CONTAINER_KINDS,
        ),
        Param("skip", False, _N, _boolean("skip"), "leave this subtree out of runs"),
        Param(
            "suppress_errors",
            False,
            _N,
            _boolean("suppress_errors"),
            "report done to the parent even when this subtree failed",
        ),
        Param("doc", None, _N, _text("doc"), "Markdown shown with the node"),
        Param("title", None, _N, _text("title"), "display title instead of the name"),
        Param("tags", [], _N, _tags, "labels for filtering"),
        Param(
            "stop_on_error",
            True,
            _N,
            _boolean("stop_on_error"),
            "stop at the first failed child (else run the rest, then report error)",
            frozenset({SERIAL}),
        ),
        Param(
            "container_reuse_context",
            ContainerReuseContext.INHERIT,
            _N,
            _reuse_context,
            "NEW: one container for the subtree (an Exec: its own), its Execs one at a time",
        ),
    ]
}

# Conducto's older spellings, accepted so 0.1.x scripts run unchanged.
ALIASES = {"same_container": "container_reuse_context"}


def to_json(name: str, value: Any) -> Any:
    """A parameter value in JSON form; `check` reads it back to the same value."""
    if isinstance(value, enum.Enum):
        return value.value
    if hasattr(value, "to_json"):
        return value.to_json()
    if isinstance(value, dict):
        return {k: to_json(name, v) for k, v in value.items()}
    return value
