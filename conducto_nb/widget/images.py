"""A pipeline's co.Images as the widget shows them: a chip per image (the `images` trait, a
few small dicts re-sent whole when one changes), and a panel per image opened on demand, whose
build log streams only while it is open, as a node's output does.

The trait carries how many nodes need an image, not which: a 10,000-node tree with one image
would otherwise send 10,000 paths on every state change. The paths come with the panel.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..images.image import Image
from ..model.execs import Exec
from ..model.states import ImageChanged, ImageState
from ..run.image_builds import describe, image_key
from .details import CHUNK_SHOWN, tail

if TYPE_CHECKING:
    from ..model.nodes import Node

__all__ = ["NODES_SHOWN", "encode_images", "image_detail", "log_messages", "tree_images"]

NODES_SHOWN = 200  # paths an image's panel lists; the rest as a count
LOG_SHOWN = 100_000  # characters of a build log sent when its panel opens: the last ones
NOT_BUILT = "built when the pipeline starts"


def tree_images(top: Node) -> list[ImageChanged]:
    """The co.Images of a tree not run yet, as pending images, in order of first use.

    `image` is inherited from the nearest ancestor, so one walk down carrying it replaces
    resolving every node's parameters (a tenth of a second for 10,000 nodes)."""
    users: dict[str, tuple[Image, list[str]]] = {}
    keys: dict[int, str] = {}  # by id(image): a key hashes the image's whole spec
    stack: list[tuple[Node, Any]] = [(top, top.params["image"].value)]
    while stack:
        node, image = stack.pop()
        if isinstance(node, Exec):
            if isinstance(image, Image):
                key = keys.get(id(image)) or keys.setdefault(id(image), image_key(image))
                users.setdefault(key, (image, []))[1].append(node.path)
            continue
        for kid in reversed(list(node.children.values())):
            stack.append((kid, kid.own_params.get("image", image)))
    return [
        ImageChanged(key, describe(image), ImageState.PENDING, tuple(nodes), message=NOT_BUILT)
        for key, (image, nodes) in users.items()
    ]


def encode_images(images: Iterable[ImageChanged]) -> list[dict[str, Any]]:
    """The `images` trait."""
    return [
        {
            "key": i.key,
            "label": i.label,
            "state": i.state.value,
            "n": len(i.nodes),
            "tag": i.tag,
            "message": i.message,
            "started": i.started,
            "ended": i.ended,
            "step": i.step,
        }
        for i in images
    ]


def image_detail(key: str, status: ImageChanged | None, log: str) -> dict[str, Any]:
    """The `image` message: what an image's panel needs beyond its chip (the nodes that need
    it, the log so far); appended log text follows as `ilog` messages."""
    if status is None:
        return {"type": "image", "key": key, "missing": True, "nodes": [], "more": 0, "log": ""}
    nodes = list(status.nodes)
    return {
        "type": "image",
        "key": key,
        "nodes": nodes[:NODES_SHOWN],
        "more": max(0, len(nodes) - NODES_SHOWN),
        "log": tail(log, LOG_SHOWN),
    }


def log_messages(chunks: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Build log text of watched images as `ilog` messages: one per image per flush, only
    its end when it is a flood."""
    texts: dict[str, str] = {}
    for key, text in chunks:
        texts[key] = texts.get(key, "") + text
    out = []
    for key, text in texts.items():
        if len(text) > CHUNK_SHOWN:
            skipped = len(text) - CHUNK_SHOWN
            text = f"[... {skipped} characters skipped ...]\n" + text[-CHUNK_SHOWN:]
        out.append({"type": "ilog", "key": key, "text": text})
    return out
