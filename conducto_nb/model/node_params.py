"""Parameters as a node sees them: each one's effective value (the node's own, else the
nearest ancestor's or all of theirs merged, else the default) with where it came from, which
is `node.params`, and each one as an attribute (`node.cpu`); `ParamHolder` is the part of
every node that checks and keeps its own.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import ParameterError, suggest
from . import params as P
from .params import PARAMS, Inherit, to_json

if TYPE_CHECKING:
    from .nodes import Node

__all__ = ["EffectiveParams", "ParamHolder", "ParamValue", "param_property", "resolve"]


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


#: A new token whenever any node's own parameters or place in a tree change (after the
#: change): what a node inherits may have changed, so every node's kept `param_values` is
#: stale. A fresh object, not a count: two threads' changes cannot land as one.
CHANGES: list[object] = [object()]


def _effective(node: ParamHolder, name: str, param: P.Param) -> Any:
    """`resolve`'s rule for one parameter, reading the nodes' own parameters directly."""
    if param.inherit is Inherit.MERGE:
        layers = []
        holder: ParamHolder | None = node
        while holder is not None:
            if name in holder._own:
                layers.append(holder._own[name])
            holder = holder._parent
        merged: dict[str, Any] = {}
        for layer in reversed(layers):
            merged.update(layer)
        return merged
    if param.inherit is not Inherit.OVERRIDE:
        return node._own.get(name, param.default)
    holder = node
    while holder is not None:
        if name in holder._own:
            return holder._own[name]
        holder = holder._parent
    return param.default


@functools.cache
def _taken_by(kind: str) -> tuple[tuple[str, P.Param], ...]:
    return tuple((name, param) for name, param in PARAMS.items() if kind in param.kinds)


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


class ParamHolder:
    """A node's own parameters: checked against the one table (params.py) as they are set,
    so a typo or a bad value fails where it is written, naming the node."""

    kind: ClassVar[str]
    _own: dict[str, Any]
    _parent: Node | None
    _ATTRIBUTES: ClassVar[frozenset[str]]
    _values: tuple[object, dict[str, Any]]

    @property
    def path(self) -> str:
        """Where the node is ("/" when it is a root): Node's."""
        raise NotImplementedError

    def update_params(self, params: Mapping[str, Any]) -> None:
        """Validate and set several parameters at once; nothing is set if one is bad."""
        checked = {self._param_name(k): v for k, v in params.items()}
        staged = {k: self._check(k, v) for k, v in checked.items()}
        self._own.update(staged)
        CHANGES[0] = object()

    def _param_name(self, given: str) -> str:
        name = P.ALIASES.get(given, given)
        param = P.PARAMS.get(name)
        if param is None:
            raise self._unknown(given)
        if self.kind not in param.kinds:
            takers = " and ".join(sorted(k.capitalize() for k in param.kinds))
            raise ParameterError(
                f"`{given}` applies only to {takers} nodes, not {type(self).__name__}",
                path=self.path,
                param=name,
            )
        return name

    def _unknown(self, name: str) -> ParameterError:
        hint = suggest(name, [*P.PARAMS, "name"])
        return ParameterError(f"unknown parameter `{name}`{hint}", path=self.path, param=name)

    def __setattr__(self, name: str, value: Any) -> None:
        # `node.cpus = 2` would otherwise make a new attribute and be silently ignored.
        if name.startswith("_") or hasattr(type(self), name) or name in self._ATTRIBUTES:
            object.__setattr__(self, name, value)
        else:
            raise self._unknown(name)

    def _check(self, name: str, value: Any) -> Any:
        try:
            return P.PARAMS[name].check(value)
        except ValueError as e:
            raise ParameterError(str(e), path=self.path, param=name) from None

    def get_param(self, name: str) -> Any:
        """The effective value: own, else inherited, else the default."""
        name = self._param_name(name)
        return _effective(self, name, P.PARAMS[name])

    def param_values(self) -> dict[str, Any]:
        """Every parameter's effective value, without where it came from: what a job is
        made of, so worked out without the paths `params` names, and kept until any node's
        parameters or place change (a run asks once before it starts, then per attempt)."""
        kept, now = getattr(self, "_values", None), CHANGES[0]  # (read before working out)
        if kept is None or kept[0] is not now:
            values = {name: _effective(self, name, param) for name, param in _taken_by(self.kind)}
            kept = self._values = (now, values)
        return dict(kept[1])

    def set_param(self, name: str, value: Any) -> None:
        name = self._param_name(name)
        self._own[name] = self._check(name, value)
        CHANGES[0] = object()

    @property
    def own_params(self) -> Mapping[str, Any]:
        """Only the parameters set on this node itself."""
        return MappingProxyType(self._own)

    @property
    def params(self) -> EffectiveParams:
        """Every parameter this node takes, its effective value, and where that came from."""
        chain = [(self.path, self._own)]
        node = self._parent
        while node is not None:
            chain.append((node.path, node._own))
            node = node._parent
        return resolve(self.kind, chain)
