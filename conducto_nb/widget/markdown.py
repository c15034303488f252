"""Markdown for the panel, rendered in the kernel: node docs, and what a command prints between
`<ConductoMarkdown>` and `</ConductoMarkdown>` (as Conducto rendered it). markdown-it-py in its
safe mode (raw HTML escaped, `javascript:` and other unsafe links refused, images allowed) makes
HTML the browser can insert as is, so the bundle carries no parser and no sanitiser.

Blocks travel as `[source, html]` pairs: the browser finds each block's source in the text it
has and shows the HTML in its place (or the source, until the block is closed).
"""

from __future__ import annotations

from typing import Any

from ..nb import CLOSE, OPEN
from .data_images import inline_data_images

__all__ = ["BlockScanner", "blocks", "rendered", "to_html"]

MAX_BLOCK = 1_000_000  # characters of an unclosed block kept waiting for its end
_md: Any = None


def to_html(text: str) -> str:
    global _md
    if _md is None:
        from markdown_it import MarkdownIt

        _md = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
    return str(_md.render(text))


def blocks(text: str) -> list[str]:
    """The sources of the closed blocks in `text`, in order."""
    found, _ = _scan(text)
    return found


def rendered(sources: list[str], pipeline_id: str | None = None) -> list[list[str]]:
    """`[source, html]` pairs; images the blocks show from co.data (of `pipeline_id`) are
    put in the HTML itself (data_images.py)."""
    return [[s, to_html(inline_data_images(s, pipeline_id))] for s in dict.fromkeys(sources)]


def _scan(text: str) -> tuple[list[str], str]:
    """Closed blocks, and the rest to keep: an unclosed block, or a tag's possible start."""
    found: list[str] = []
    at = 0
    while True:
        start = text.find(OPEN, at)
        if start < 0:
            return found, text[max(at, len(text) - len(OPEN) + 1) :]
        end = text.find(CLOSE, start + len(OPEN))
        if end < 0:
            rest = text[start:]
            return found, rest if len(rest) <= MAX_BLOCK else ""
        found.append(text[start + len(OPEN) : end])
        at = end + len(CLOSE)


class BlockScanner:
    """Finds blocks in a stream that arrives in chunks (a tag may be split between two)."""

    def __init__(self) -> None:
        self.rest = ""

    def feed(self, text: str) -> list[str]:
        found, self.rest = _scan(self.rest + text)
        return found
