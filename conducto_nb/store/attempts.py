"""Each attempt of each Exec: when it was queued, started and ended, and how. A node's start
and end usually reach the store writer in one batch: `write_attempts` then makes them one row
written once, and all of a batch's rows one statement each kind, instead of two per node.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from .db import StoreDB

__all__ = ["AttemptEnd", "AttemptStart", "AttemptStore"]


class AttemptStart(NamedTuple):
    path: str
    attempt: int
    started: float
    queued: float | None = None


class AttemptEnd(NamedTuple):
    path: str
    attempt: int
    state: str
    exit_code: int | None
    ended: float
    message: str | None
    result: str | None = None


# A start (again) clears an earlier end of the same attempt; an end keeps the start's times.
_START = (
    "INSERT INTO attempts (pipeline_id, path, attempt, state, started, queued)"
    " VALUES (?, ?, ?, 'running', ?, ?)"
    " ON CONFLICT (pipeline_id, path, attempt) DO UPDATE SET state = 'running',"
    " exit_code = NULL, started = excluded.started, ended = NULL, message = NULL,"
    " queued = excluded.queued"
)
_END = (
    "INSERT INTO attempts (pipeline_id, path, attempt, state, exit_code, started,"
    " ended, message, result) VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?)"
    " ON CONFLICT (pipeline_id, path, attempt) DO UPDATE SET state = excluded.state,"
    " exit_code = excluded.exit_code, ended = excluded.ended,"
    " message = excluded.message, result = excluded.result"
)
_BOTH = (
    "INSERT INTO attempts (pipeline_id, path, attempt, state, exit_code, started, ended,"
    " message, result, queued) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (pipeline_id, path, attempt) DO UPDATE SET state = excluded.state,"
    " exit_code = excluded.exit_code, started = excluded.started, ended = excluded.ended,"
    " message = excluded.message, result = excluded.result, queued = excluded.queued"
)

Written = tuple[AttemptStart | None, AttemptEnd | None]


class AttemptStore(StoreDB):
    """The part of `Store` that records attempts."""

    def start_attempt(
        self, pipeline_id: str, path: str, attempt: int, started: float, queued: float | None = None
    ) -> None:
        self.write_attempts(pipeline_id, [(AttemptStart(path, attempt, started, queued), None)])

    def finish_attempt(
        self,
        pipeline_id: str,
        path: str,
        attempt: int,
        *,
        state: str,
        exit_code: int | None,
        ended: float,
        message: str | None,
        result: str | None = None,
    ) -> None:
        """Close an attempt (one that never started, e.g. a worker error, is recorded too)."""
        end = AttemptEnd(path, attempt, state, exit_code, ended, message, result)
        self.write_attempts(pipeline_id, [(None, end)])

    def write_attempts(self, pipeline_id: str, attempts: Sequence[Written]) -> None:
        """Attempts' starts, ends, or both (an end that follows its start), in one transaction."""
        starts, ends, both = [], [], []
        for start, end in attempts:
            if start is not None and end is not None:
                s, e = start, end
                rest = (s.started, e.ended, e.message, e.result, s.queued)
                both.append((pipeline_id, s.path, s.attempt, e.state, e.exit_code, *rest))
            elif start is not None:
                starts.append((pipeline_id, *start))
            elif end is not None:
                ends.append((pipeline_id, *end))
        with self._tx(pipeline_id) as c:
            for sql, rows in ((_START, starts), (_END, ends), (_BOTH, both)):
                if rows:
                    c.executemany(sql, rows)
