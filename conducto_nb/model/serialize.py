"""A tree to JSON-ready data and back, losslessly: the store keeps it, the widget draws it,
remote workers and `Lazy` commands exchange it. Only own parameters are written; effective
ones follow from the tree.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..errors import PipelineError, SerializationError
from . import params as P
from .building import detached
from .callbacks import Callback
from .execs import Command, Exec, Lazy
from .nodes import Node, Parallel, Serial
from .notebook import Notebook

__all__ = ["FORMAT", "dumps", "loads", "tree_from_json", "tree_to_json"]

FORMAT = "conducto_nb/1"

_CLASSES: dict[str, type[Node]] = {
    "Serial": Serial,
    "Parallel": Parallel,
    "Exec": Exec,
    "Lazy": Lazy,
    "Notebook": Notebook,
}


def tree_to_json(root: Node) -> dict[str, Any]:
    """`root` (any node) as the root of a tree: its own name is its parent's business, so it is
    written as "/" and a subtree reads back to the same JSON."""
    return {"format": FORMAT, "root": _node_to_json(root, "/", {})}


def _node_to_json(node: Node, name: str, same: dict[int, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": type(node).__name__ if type(node) in _CLASSES.values() else node.kind.capitalize(),
        "name": name,
    }
    if node.own_params:
        out["params"] = {k: P.to_json(k, v) for k, v in node.own_params.items()}
    if isinstance(node, Exec):
        try:
            out["command"] = node.command_obj.to_json(same)
        except Exception as e:  # cloudpickle: a lock, a socket, a generator among the args
            raise SerializationError(
                f"cannot pickle `{node.command}`: {type(e).__name__}: {e}", path=node.path
            ) from e
        if node.generates:
            out["generates"] = True
    if isinstance(node, Serial) and node.awaiting_generation:
        out["awaiting_generation"] = True
    if node.callbacks:
        out["callbacks"] = [[event, cb.to_json()] for event, cb in node.callbacks]
    if node.children:
        out["children"] = [_node_to_json(c, k, same) for k, c in node.children.items()]
    return out


def tree_from_json(data: Mapping[str, Any]) -> Node:
    if not isinstance(data, Mapping) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, Mapping) else type(data).__name__
        raise SerializationError(f"not a {FORMAT} tree (format: {found!r})")
    with detached():
        return _node_from_json(data.get("root"), "/", {})


def _node_from_json(data: Any, path: str, decoded: dict[str, bytes]) -> Node:
    if not isinstance(data, Mapping) or data.get("type") not in _CLASSES:
        raise SerializationError(
            f"expected a node with a type among {sorted(_CLASSES)}, got {data!r}"[:300], path=path
        )
    cls = _CLASSES[data["type"]]
    params = data.get("params") or {}
    children = data.get("children") or []
    if not isinstance(params, Mapping):
        raise SerializationError(f"`params` must be an object, not {params!r}"[:300], path=path)
    if not isinstance(children, list):
        raise SerializationError(f"`children` must be a list, not {children!r}"[:300], path=path)
    try:
        node: Node
        if issubclass(cls, Exec):  # an Exec, or a Notebook (its notebook is in the command)
            node = exe = cls._of(Command.from_json(data.get("command") or {}, decoded), **params)
            exe.generates = bool(data.get("generates"))
        elif cls is Lazy:
            node = Lazy._empty(**params)
        else:
            node = cls(**params)
    except TypeError as e:  # a non-string key (from Python data, never from JSON)
        raise SerializationError(f"bad `params`: {e}", path=path) from e
    except PipelineError as e:
        raise SerializationError(e.message, path=path) from e
    if isinstance(node, Serial):
        node.awaiting_generation = bool(data.get("awaiting_generation"))
    for item in data.get("callbacks") or []:
        try:
            event, callback = item
            node._add_callback(str(event), Callback.from_json(callback))
        except (TypeError, ValueError, KeyError) as e:
            raise SerializationError(f"bad callback {item!r}: {e}"[:300], path=path) from e
    for i, child in enumerate(children):
        name = child.get("name") if isinstance(child, Mapping) else None
        if not isinstance(name, str):
            raise SerializationError(f"child {i} has no `name`: {child!r}"[:300], path=path)
        child_path = f"{path.rstrip('/')}/{name}"
        kid = _node_from_json(child, child_path, decoded)
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
    except ValueError as e:  # JSONDecodeError, or bytes that are not UTF-8
        raise SerializationError(f"not JSON: {e}") from e
    return tree_from_json(data)
