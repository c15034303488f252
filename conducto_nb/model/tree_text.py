"""The tree as text, one node a line, drawn with box characters and a status beside each node
when given: `root.pretty()`, `run.pretty()`, and what `repr(run)` shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .nodes import Node

__all__ = ["PrettyTree", "render_tree"]


class PrettyTree(str):
    """A string that shows as itself, so `root.pretty()` as a cell's last line reads well."""

    def __repr__(self) -> str:
        return str(self)


def render_tree(top: Node, statuses: Mapping[str, Any] | None = None) -> PrettyTree:
    """`top` and its subtree, `top` by path and the rest by name; with `statuses`
    (path -> label) beside each."""
    lines: list[str] = []

    def line(node: Node, prefix: str, branch: str) -> None:
        label = node.path if node is top else node.name
        extra = f"  [{statuses[node.path]}]" if statuses and node.path in statuses else ""
        lines.append(f"{prefix}{branch}{label}  {node._describe()}{extra}")
        kids = list(node.children.values())
        inner = prefix + ("" if node is top else ("   " if branch == "└─ " else "│  "))
        for i, kid in enumerate(kids):
            line(kid, inner, "└─ " if i == len(kids) - 1 else "├─ ")

    line(top, "", "")
    return PrettyTree("\n".join(lines))
