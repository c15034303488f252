"""What jobs print, kept in the store within a bound: each stream is appended in chunks and
trimmed from the front to `output_cap` bytes, cut only at character boundaries, and read back
with a marker saying how much was dropped. Apart from the rest of the store because only
output grows without limit.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from .db import StoreDB

__all__ = ["OutputStore"]

_STREAM = "pipeline_id = ? AND path = ? AND attempt = ? AND stream = ?"


def _cut(data: bytes, n: int) -> int:
    """`n` moved forward to the next character boundary of UTF-8 `data`."""
    while n < len(data) and data[n] & 0xC0 == 0x80:
        n += 1
    return n


class OutputStore(StoreDB):
    """The part of `Store` that keeps each stream's last `output_cap` bytes."""

    output_cap: int  # set by Store

    def append_output(
        self, pipeline_id: str, path: str, attempt: int, stream: str, text: str
    ) -> None:
        """Add `text` to a stream, keeping only its last `output_cap` bytes."""
        if not text:
            return
        data = text.encode("utf-8", "replace")
        key = (pipeline_id, path, attempt, stream)
        with self._tx(pipeline_id) as c:
            row = c.execute(f"SELECT kept, dropped FROM output_streams WHERE {_STREAM}", key)
            kept, dropped = row.fetchone() or (0, 0)
            if len(data) > self.output_cap:
                cut = _cut(data, len(data) - self.output_cap)
                data, dropped = data[cut:], dropped + cut
            c.execute(
                "INSERT INTO output_chunks (pipeline_id, path, attempt, stream, text, nbytes)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (*key, data.decode(), len(data)),
            )
            kept += len(data)
            if kept > self.output_cap:
                removed = self._trim(c, key, kept - self.output_cap)
                kept, dropped = kept - removed, dropped + removed
            c.execute(
                "INSERT INTO output_streams VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT"
                " (pipeline_id, path, attempt, stream) DO UPDATE SET kept = excluded.kept,"
                " dropped = excluded.dropped",
                (*key, kept, dropped),
            )

    def _trim(self, c: sqlite3.Connection, key: tuple[Any, ...], excess: int) -> int:
        """Drop at least `excess` bytes from the front of a stream; returns the bytes dropped."""
        removed, doomed, shortened = 0, [], None
        sql = f"SELECT seq, nbytes, text FROM output_chunks WHERE {_STREAM} ORDER BY seq"
        cursor = c.execute(sql, key)
        for seq, nbytes, text in cursor:
            if nbytes <= excess - removed:
                doomed.append((seq,))
                removed += nbytes
            else:
                data = text.encode()
                cut = _cut(data, excess - removed)
                shortened, removed = (data[cut:].decode(), len(data) - cut, seq), removed + cut
            if removed >= excess:
                break
        cursor.close()
        c.executemany("DELETE FROM output_chunks WHERE seq = ?", doomed)
        if shortened is not None:
            c.execute("UPDATE output_chunks SET text = ?, nbytes = ? WHERE seq = ?", shortened)
        return removed

    def output(self, pipeline_id: str, path: str, stream: str, attempt: int | None = None) -> str:
        """A stream's kept text (attempt None: the latest), led by a marker if bytes were
        dropped; "" when nothing was written."""
        with self._read(pipeline_id) as c:
            if attempt is None:
                attempt = c.execute(
                    "SELECT MAX(attempt) FROM (SELECT attempt FROM attempts WHERE pipeline_id = ?"
                    " AND path = ? UNION ALL SELECT attempt FROM output_streams"
                    " WHERE pipeline_id = ? AND path = ?)",
                    (pipeline_id, path, pipeline_id, path),
                ).fetchone()[0]
            key = (pipeline_id, path, attempt, stream)
            row = c.execute(f"SELECT dropped FROM output_streams WHERE {_STREAM}", key).fetchone()
            if row is None:
                if not c.execute("SELECT 1 FROM pipelines WHERE id = ?", (pipeline_id,)).fetchone():
                    raise self._not_found(pipeline_id)
                return ""
            sql = f"SELECT text FROM output_chunks WHERE {_STREAM} ORDER BY seq"
            text = "".join(t for (t,) in c.execute(sql, key))
        return f"[... {row[0]} bytes dropped ...]\n{text}" if row[0] else text
