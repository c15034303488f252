"""A tree to JSON-ready data and back, losslessly: the store keeps it, the widget draws it,
remote workers and `Lazy` commands exchange it. Only own parameters are written; effective
ones follow from the tree.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from . import params as P
from .errors import PipelineError, SerializationError
from .execs import Command, Exec, Lazy
from .nodes import Node, Parallel, Serial, detached

__all__ = ["FORMAT", "dumps", "loads", "tree_from_json", "tree_to_json"]

FORMAT = "conducto_nb/1"

_CLASSES: dict[str, type[Node]] = {
    "Serial": Serial,
    "Parallel": Parallel,
    "Exec": Exec,
    "Lazy": Lazy,
}


def tree_to_json(root: Node) -> dict[str, Any]:
    return {"format": FORMAT, "root": _node_to_json(root)}


def _node_to_json(node: Node) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": type(node).__name__ if type(node) in _CLASSES.values() else node.kind.capitalize(),
        "name": node.name,
    }
    if node.own_params:
        out["params"] = {k: P.to_json(k, v) for k, v in node.own_params.items()}
    if isinstance(node, Exec):
        out["command"] = node.command_obj.to_json()
        if node.generates:
            out["generates"] = True
    if isinstance(node, Serial) and node.awaiting_generation:
        out["awaiting_generation"] = True
    if node.children:
        out["children"] = [_node_to_json(c) for c in node.children.values()]
    return out


def tree_from_json(data: Mapping[str, Any]) -> Node:
    if not isinstance(data, Mapping) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, Mapping) else type(data).__name__
        raise SerializationError(f"not a {FORMAT} tree (format: {found!r})")
    with detached():
        return _node_from_json(data.get("root"), "/")


def _node_from_json(data: Any, path: str) -> Node:
    if not isinstance(data, Mapping) or data.get("type") not in _CLASSES:
        raise SerializationError(
            f"expected a node with a type among {sorted(_CLASSES)}, got {data!r}"[:300], path=path
        )
    cls = _CLASSES[data["type"]]
    params = dict(data.get("params") or {})
    try:
        if cls is Exec:
            node: Node = Exec._of(Command.from_json(data.get("command") or {}), **params)
            node.generates = bool(data.get("generates"))  # type: ignore[attr-defined]
        elif cls is Lazy:
            node = Lazy._empty(**params)
        else:
            node = cls(**params)
    except PipelineError as e:
        raise SerializationError(e.message, path=path) from e
    if isinstance(node, Serial):
        node.awaiting_generation = bool(data.get("awaiting_generation"))
    for child in data.get("children") or []:
        name = child.get("name") if isinstance(child, Mapping) else None
        child_path = f"{path.rstrip('/')}/{name}"
        kid = _node_from_json(child, child_path)
        try:
            node._adopt(kid, name)
        except PipelineError as e:
            raise SerializationError(e.message, path=child_path) from e
    return node


def dumps(root: Node) -> str:
    return json.dumps(tree_to_json(root), separators=(",", ":"))


def loads(text: str | bytes) -> Node:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise SerializationError(f"not JSON: {e}") from e
    return tree_from_json(data)
