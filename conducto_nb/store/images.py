"""The co.Images of each pipeline in the store: their build states, and the last of each
build's log, so a pipeline loaded in another process (the CLI, a reloaded notebook) lists its
images the way the process that built them does.
"""

from __future__ import annotations

import json

from ..model.states import IMAGE_LOG_CAP, ImageChanged, ImageState
from .db import StoreDB

__all__ = ["ImageStore"]


class ImageStore(StoreDB):
    """The part of `Store` that keeps each pipeline's images."""

    def set_image(self, pipeline_id: str, image: ImageChanged) -> None:
        """Record an image's state (its log is left as it is)."""
        values = (
            image.label,
            image.state.value,
            json.dumps(list(image.nodes)),
            image.tag,
            image.message,
            image.started,
            image.ended,
        )
        with self._tx(pipeline_id) as c:
            c.execute(
                "INSERT INTO images (pipeline_id, key, seq, label, state, nodes, tag, message,"
                " started, ended) VALUES (?, ?, (SELECT COUNT(*) FROM images WHERE"
                " pipeline_id = ?), ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (pipeline_id, key) DO UPDATE"
                " SET label = excluded.label, state = excluded.state, nodes = excluded.nodes,"
                " tag = excluded.tag, message = excluded.message, started = excluded.started,"
                " ended = excluded.ended",
                (pipeline_id, image.key, pipeline_id, *values),
            )

    def append_image_log(self, pipeline_id: str, key: str, text: str) -> None:
        """Add to an image's build log, keeping its last IMAGE_LOG_CAP characters."""
        with self._tx(pipeline_id) as c:
            c.execute(
                "UPDATE images SET log = substr(log || ?, -?) WHERE pipeline_id = ? AND key = ?",
                (text, IMAGE_LOG_CAP, pipeline_id, key),
            )

    def images(self, pipeline_id: str) -> tuple[list[ImageChanged], dict[str, str]]:
        """The pipeline's images in order of first use, and their logs by key."""
        with self._read(pipeline_id) as c:
            rows = c.execute(
                "SELECT key, label, state, nodes, tag, message, started, ended, log FROM images"
                " WHERE pipeline_id = ? ORDER BY seq",
                (pipeline_id,),
            ).fetchall()
        images = [
            ImageChanged(
                key,
                label,
                ImageState(state),
                tuple(json.loads(nodes)),
                tag,
                message,
                start,
                end,
                # Not stored: the log says it, as it said it to the process building it.
                step=_step(log) if state == ImageState.BUILDING.value else None,
            )
            for key, label, state, nodes, tag, message, start, end, log in rows
        ]
        return images, {row[0]: row[-1] for row in rows if row[-1]}


def _step(log: str | None) -> str | None:
    from ..images.build import build_step  # lazy: the build's imports (tarfile...), rarely

    return build_step(log or "")
