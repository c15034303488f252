"""Parameters as a node sees them: each one's effective value (the node's own, else the
nearest ancestor's or all of theirs merged, else the default) with where it came from, which
is `node.params`, and each one as an attribute (`node.cpu`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from .params import PARAMS, Inherit, to_json

if TYPE_CHECKING:
    from .nodes import Node

__all__ = ["EffectiveParams", "ParamValue", "param_property", "resolve"]


@dataclass(frozen=True)
class ParamValue:
    """An effective value and where it came from: a node path, or 'default'."""

    value: Any
    source: str


class EffectiveParams(dict[str, ParamValue]):
    """`node.params`: every parameter the node takes, its effective value and its source."""

    def __repr__(self) -> str:
        width = max((len(k) for k in self), default=0)
        lines = [f"{k:<{width}}  {to_json(k, v.value)!r:<28} {v.source}" for k, v in self.items()]
        return "\n".join(lines)

    def values_only(self) -> dict[str, Any]:
        return {k: v.value for k, v in self.items()}


def resolve(kind: str, chain: Sequence[tuple[str, Mapping[str, Any]]]) -> EffectiveParams:
    """Effective parameters of a node from its chain of (path, own params), the node first and
    the root last: the node's own value wins, then the nearest ancestor's, then the default."""
    out = EffectiveParams()
    own_path, own = chain[0]
    for name, param in PARAMS.items():
        if kind not in param.kinds:
            continue
        if param.inherit is Inherit.MERGE:
            merged: dict[str, Any] = {}
            sources: list[str] = []
            for path, params in reversed(chain):
                if name in params:
                    merged.update(params[name])
                    sources.append(path)
            out[name] = ParamValue(merged, ", ".join(sources) if sources else "default")
            continue
        scope = chain if param.inherit is Inherit.OVERRIDE else [(own_path, own)]
        for path, params in scope:
            if name in params:
                out[name] = ParamValue(params[name], path)
                break
        else:
            out[name] = ParamValue(param.default, "default")
    return out


def param_property(name: str) -> property:
    """Parameter `name` as a node attribute: `node.cpu` reads the effective value,
    `node.cpu = 2` sets the node's own."""

    def get(self: Node) -> Any:
        if self.kind not in PARAMS[name].kinds:  # so hasattr() and getattr(.., default) work
            raise AttributeError(f"{type(self).__name__} nodes have no parameter `{name}`")
        value = self.get_param(name)
        # `node.env["X"] = "1"` would change a merged copy and be lost: make it fail instead;
        # `node.env = {**node.env, "X": "1"}` sets it.
        return MappingProxyType(value) if isinstance(value, dict) else value

    def set_(self: Node, value: Any) -> None:
        self.set_param(name, value)

    return property(get, set_, doc=PARAMS[name].doc)
