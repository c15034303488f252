"""How a node joins the tree a script is building: the `with` blocks open in this context (a
node built inside one joins the innermost), and the names a child may have, given and checked
or made up from the node and unique among its siblings.
"""

from __future__ import annotations

import contextlib
import contextvars
import re
from collections.abc import Container, Iterator
from typing import TYPE_CHECKING

from ..errors import TreeError

if TYPE_CHECKING:
    from .nodes import Node

__all__ = ["detached", "enter", "free_name", "innermost", "leave", "valid_name"]

# The `with` blocks being built, innermost last; None hides them (a node built for internal use).
_BUILDING: contextvars.ContextVar[tuple[Node | None, ...]] = contextvars.ContextVar(
    "conducto_nb_building", default=()
)


@contextlib.contextmanager
def detached() -> Iterator[None]:
    """Build nodes that must not join the user's enclosing `with` block."""
    token = _BUILDING.set((*_BUILDING.get(), None))
    try:
        yield
    finally:
        _BUILDING.reset(token)


def innermost() -> Node | None:
    """The block a node built now joins: None outside every block, or inside `detached()`."""
    stack = _BUILDING.get()
    return stack[-1] if stack else None


def enter(node: Node) -> None:
    """`with node:` opens a block."""
    _BUILDING.set((*_BUILDING.get(), node))


def leave() -> None:
    """The innermost block closes."""
    stack = _BUILDING.get()
    _BUILDING.set(stack[:-1])


_NAME_FORBIDDEN = re.compile(r"[/\x00-\x1f]")


def valid_name(name: object, parent_path: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise TreeError(f"a node name must be a non-empty string, not {name!r}", path=parent_path)
    if _NAME_FORBIDDEN.search(name):
        raise TreeError(
            f"node name {name!r} may not contain '/' or control characters", path=parent_path
        )
    return name


def free_name(default: str, taken: Container[str]) -> str:
    """A name for a child built without one: its default name as a slug, numbered from -2 on
    if a sibling has it."""
    base = _slug(default)
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    return name


def _slug(text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:40]
    return slug or "node"
