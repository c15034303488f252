"""Images a step shows from its co.data, drawn in the panel: Conducto's examples print
`![plot](URL)` in a Markdown block with URL = `co.data.pipeline.url("plots/x.png")`. That URL
names the data service, which answers only with the pipeline's token (and from a container
it names the host as the container sees it), so a browser cannot load it. The kernel reads
the object itself from the run's data and puts it in the HTML as a `data:` image.

Only links to the data service's objects (`.../v1/object/pipeline?name=...` or `/user`) in
image syntax are changed, only for images (PNG, JPEG, GIF, WebP: told by their first bytes, as
object names often have no extension) of at most MAX_BYTES; anything else (a missing object,
another kind of file) stays the link the step printed.
"""

from __future__ import annotations

import base64
import re
import urllib.parse

from ..data.store import scope
from ..errors import PipelineError

__all__ = ["MAX_BYTES", "inline_data_images"]

MAX_BYTES = 4 << 20
#: An image's destination that is a data service object: `![alt](` then `<URL>` or URL.
_IMAGE = re.compile(r"(!\[[^\]\n]*\]\(\s*<?)([^\s()<>]+/v1/object/(pipeline|user)\?[^\s()<>]+)")


def inline_data_images(markdown: str, pipeline_id: str | None) -> str:
    """`markdown` with the images it shows from co.data (of pipeline `pipeline_id`, or the
    user's) as `data:` URLs the browser can show."""
    if "/v1/object/" not in markdown:
        return markdown

    def inline(found: re.Match[str]) -> str:
        data = _data_url(found.group(2), found.group(3), pipeline_id)
        return found.group(1) + data if data is not None else found.group(0)

    return _IMAGE.sub(inline, markdown)


def _data_url(url: str, kind: str, pipeline_id: str | None) -> str | None:
    names = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query).get("name") or [""]
    try:
        path = scope(kind, pipeline_id).file(names[0])
        if path.stat().st_size > MAX_BYTES:
            return None
        data = path.read_bytes()
    except (PipelineError, OSError):  # a bad name, no such object: the link as printed
        return None
    mime = _image_type(data[:12])
    if mime is None:
        return None
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _image_type(head: bytes) -> str | None:
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    return None
