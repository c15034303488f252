"""The callbacks that fired on a pipeline's nodes: what each did and whether it worked, kept so
a run loaded in another process (the CLI, another kernel, the lab extension) shows them too.
A notification is recorded when it is sent (ok NULL) and again when it is answered.
"""

from __future__ import annotations

from ..model.states import CallbackFired
from .db import StoreDB

__all__ = ["CallbackStore"]


class CallbackStore(StoreDB):
    """The part of `Store` that keeps fired callbacks."""

    def add_callback(self, pipeline_id: str, fired: CallbackFired) -> None:
        with self._tx(pipeline_id) as c:
            c.execute(
                "INSERT INTO callbacks (pipeline_id, path, event, label, fired, ok, message)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    pipeline_id,
                    fired.path,
                    fired.event,
                    fired.label,
                    fired.fired,
                    None if fired.ok is None else int(fired.ok),
                    fired.message,
                ),
            )

    def callbacks(self, pipeline_id: str) -> list[CallbackFired]:
        """In the order they fired."""
        with self._read(pipeline_id) as c:
            rows = c.execute(
                "SELECT path, event, label, fired, ok, message FROM callbacks"
                " WHERE pipeline_id = ? ORDER BY seq",
                (pipeline_id,),
            ).fetchall()
        return [
            CallbackFired(path, event, label, fired, None if ok is None else bool(ok), message)
            for path, event, label, fired, ok, message in rows
        ]
