"""Images a step shows from its co.data, drawn in the panel: Conducto's examples print
`![plot](URL)` in a Markdown block with URL = `co.data.pipeline.url("plots/x.png")`. That URL
names the data service, which answers only with the pipeline's token (and from a container
it names the host as the container sees it), so a browser cannot load it. The kernel reads
the object itself from the run's data and puts it in the HTML as a `data:` image.

Only links to the data service's objects (`.../v1/object/pipeline?name=...` or `/user`) in
image syntax are changed, only for image files (PNG, JPEG, GIF, WebP) of at most MAX_BYTES;
anything else (a missing object, another kind of file) stays the link the step printed.
"""

from __future__ import annotations

import base64
import re
import urllib.parse
from pathlib import PurePosixPath

from ..data.store import scope
from ..errors import PipelineError

__all__ = ["MAX_BYTES", "inline_data_images"]

MAX_BYTES = 4 << 20
_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}
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
    mime = _TYPES.get(PurePosixPath(names[0]).suffix.lower())
    if mime is None:
        return None
    try:
        path = scope(kind, pipeline_id).file(names[0])
        if path.stat().st_size > MAX_BYTES:
            return None
        data = path.read_bytes()
    except (PipelineError, OSError):  # a bad name, no such object: the link as printed
        return None
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
