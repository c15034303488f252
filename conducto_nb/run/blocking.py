"""Which pending nodes a failure holds back, kept up to date as the tree's states change.

A Serial that stops on errors does not go past a failed child, so everything after that child
is pending for no reason of its own: it is *blocked* by that child, and says so (a state of
its own in every view, `NodeStatus.blocked_by` naming the failure). Each such Serial keeps the
index of its first failed child; only when that index moves do its later children's subtrees
look again, so a run without failures pays nothing, and a failure pays once for what it holds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..model.states import FAILED

if TYPE_CHECKING:
    from .status_tree import NodeInfo

__all__ = ["blocker", "failed_child_changed", "reblock"]


def blocker(info: NodeInfo) -> str | None:
    """The failed step that holds `info` back: the first failed earlier sibling of it, or of
    its nearest ancestor that has one, under a Serial that stops on errors."""
    node = info
    while node.parent is not None:
        serial = node.parent
        first = serial.first_failed
        if serial.serial and serial.stop_on_error and first is not None and first < node.index:
            return serial.children[first].path
        node = serial
    return None


def reblock(top: NodeInfo, note: Callable[[NodeInfo], None]) -> None:
    """Look again at every node of `top`'s subtree; `note` each one before it changes."""
    for info in top.walk():
        found = blocker(info)
        if found != info.blocked_by:
            note(info)
            info.blocked_by = found


def failed_child_changed(
    serial: NodeInfo, child: NodeInfo, failed: bool, note: Callable[[NodeInfo], None]
) -> None:
    """`child` of `serial` began (`failed`) or stopped counting as a failure: move the
    Serial's first failed index, and re-look at what lies after it when it moved."""
    old = serial.first_failed
    new: int | None
    if failed:
        new = child.index if old is None or child.index < old else old
    elif old == child.index:
        later = serial.children[child.index + 1 :]
        new = next((k.index for k in later if k.category in FAILED), None)
    else:
        new = old
    if new == old:
        return
    serial.first_failed = new
    if serial.stop_on_error:
        low = min(i for i in (old, new) if i is not None)
        for kid in serial.children[low + 1 :]:
            reblock(kid, note)
