"""The memory of every pipeline run, so a restarted kernel, another process or the CLI reloads
any pipeline and loses nothing: one sqlite file under $CONDUCTO_NB_HOME.

Several processes use it at once: WAL lets readers go on while a writer commits, a busy timeout
makes writers queue, every transaction is short. The runner's event loop never calls `Store`
itself but a `StoreWriter` (writer.py), which applies writes in batches on its own thread.
Output is kept as appended chunks, trimmed from the front to `output_cap` bytes per stream.
Nothing here reads the environment beyond $CONDUCTO_NB_HOME: the runner masks secrets before
they reach the store.

`Store` is the one class to call; its parts live beside it: db.py (the tables,
connections and transactions), lease.py (owners, recovery and clean-up) and
output.py (capped output). This module keeps the pipelines, statuses and attempts.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import string
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .attempts import AttemptStore
from .callbacks import CallbackStore
from .db import home, tree_json
from .deliveries import DeliveryStore
from .images import ImageStore
from .lease import (
    LEASE_TIMEOUT,
    OWNER_COLS,
    LeaseStore,
    Owner,
    boot_id,
    owner_cols,
    owner_from,
)
from .output import OutputStore

#: A node's status as stored: (path, state, skipped) or (path, state, skipped, blocked_by).
StatusRow = tuple[str, str, bool] | tuple[str, str, bool, str | None]

__all__ = [
    "LEASE_TIMEOUT",
    "AttemptRecord",
    "Owner",
    "PipelineRecord",
    "PipelineSummary",
    "StatusRow",
    "Store",
    "boot_id",
    "home",
    "new_pipeline_id",
]


def new_pipeline_id() -> str:
    """A readable random id like Conducto's: ``ktz-mpa``."""
    letters = [secrets.choice(string.ascii_lowercase) for _ in range(6)]
    return "".join(letters[:3]) + "-" + "".join(letters[3:])


@dataclass(frozen=True)
class AttemptRecord:
    path: str
    attempt: int
    state: str
    exit_code: int | None
    started: float | None
    ended: float | None
    message: str | None
    result: str | None = None  # the repr of what a callable returned
    queued: float | None = None  # when the scheduler said to start it


@dataclass
class PipelineRecord:
    id: str
    name: str
    created: float
    backend: str
    tree: dict[str, Any]
    statuses: dict[str, tuple[str, bool]]  # path -> (state, skipped)
    attempts: dict[str, list[AttemptRecord]]  # path -> attempts in order
    owner: Owner | None
    owner_alive: bool
    blocked: dict[str, str] = field(default_factory=dict)  # blocked path -> what holds it

    @property
    def state(self) -> str:
        return self.statuses.get("/", ("pending", False))[0]


@dataclass(frozen=True)
class PipelineSummary:
    id: str
    name: str
    created: float
    state: str
    owner_alive: bool
    owner: Owner | None = None


class Store(AttemptStore, OutputStore, ImageStore, CallbackStore, DeliveryStore, LeaseStore):
    """Pipelines, node statuses, attempts and capped output in sqlite; safe across threads
    (one lock per connection) and processes (WAL, busy timeout)."""

    def __init__(self, path: Path | None = None, *, output_cap: int = 10 * 2**20) -> None:
        if output_cap < 1:
            raise ValueError(f"`output_cap` must be at least 1 byte, not {output_cap}")
        self.output_cap = output_cap
        super().__init__(path)

    # -- writes ----------------------------------------------------------------------------
    def create_pipeline(
        self,
        pipeline_id: str,
        *,
        name: str,
        tree: Mapping[str, Any],
        backend: str,
        owner: Owner | None,
        statuses: Mapping[str, tuple[str, bool]],
    ) -> None:
        self._create_pipeline(pipeline_id, name, tree_json(tree), backend, owner, statuses)

    def _create_pipeline(
        self,
        pipeline_id: str,
        name: str,
        tree_text: str,
        backend: str,
        owner: Owner | None,
        statuses: Mapping[str, tuple[str, bool]],
    ) -> None:
        with self._tx(pipeline_id) as c:
            c.execute(
                f"INSERT INTO pipelines (id, name, created, backend, tree, {OWNER_COLS})"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (pipeline_id, name, time.time(), backend, tree_text, *owner_cols(owner)),
            )
            self._upsert_statuses(c, pipeline_id, ((p, s, k) for p, (s, k) in statuses.items()))

    def set_tree(self, pipeline_id: str, tree: Mapping[str, Any]) -> None:
        self._set_tree(pipeline_id, tree_json(tree))

    def _set_tree(self, pipeline_id: str, tree_text: str) -> None:
        self._update(pipeline_id, "tree = ?", (tree_text,))

    def set_statuses(self, pipeline_id: str, changes: Iterable[StatusRow]) -> None:
        """Upsert (path, state, skipped[, blocked_by]) for each node given."""
        with self._tx(pipeline_id) as c:
            self._upsert_statuses(c, pipeline_id, changes)

    def _upsert_statuses(
        self, c: sqlite3.Connection, pipeline_id: str, changes: Iterable[StatusRow]
    ) -> None:
        c.executemany(
            "INSERT INTO statuses (pipeline_id, path, state, skipped, blocked_by)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (pipeline_id, path) DO UPDATE SET"
            " state = excluded.state, skipped = excluded.skipped, blocked_by = excluded.blocked_by",
            (
                (pipeline_id, row[0], row[1], int(row[2]), row[3] if len(row) > 3 else None)
                for row in changes
            ),
        )

    # -- reads -----------------------------------------------------------------------------
    def load(self, pipeline_id: str) -> PipelineRecord:
        """Everything about one pipeline but its output; PipelineNotFound if absent."""
        with self._read(pipeline_id) as c:
            row = c.execute(
                f"SELECT name, created, backend, tree, {OWNER_COLS} FROM pipelines WHERE id = ?",
                (pipeline_id,),
            ).fetchone()
            if row is None:
                raise self._not_found(pipeline_id)
            statuses, blocked = {}, {}
            for path, state, skipped, blocked_by in c.execute(
                "SELECT path, state, skipped, blocked_by FROM statuses WHERE pipeline_id = ?",
                (pipeline_id,),
            ):
                statuses[path] = (state, bool(skipped))
                if blocked_by is not None:
                    blocked[path] = blocked_by
            attempts: dict[str, list[AttemptRecord]] = {}
            for r in c.execute(
                "SELECT path, attempt, state, exit_code, started, ended, message, result, queued"
                " FROM attempts"
                " WHERE pipeline_id = ? ORDER BY path, attempt",
                (pipeline_id,),
            ):
                attempts.setdefault(r[0], []).append(AttemptRecord(*r))
        name, created, backend, tree, *owner_row = row
        owner = owner_from(owner_row)
        return PipelineRecord(
            pipeline_id,
            name,
            created,
            backend,
            json.loads(tree),
            statuses,
            attempts,
            owner,
            self.owner_alive(owner),
            blocked,
        )

    def list_pipelines(self) -> list[PipelineSummary]:
        """Every pipeline, newest first."""
        with self._read() as c:
            rows = c.execute(
                f"SELECT id, name, created, state, {OWNER_COLS} FROM pipelines LEFT JOIN statuses"
                " ON pipeline_id = id AND path = '/' ORDER BY created DESC, pipelines.rowid DESC"
            ).fetchall()
        out = []
        for pid, name, created, state, *owner_row in rows:
            owner = owner_from(owner_row)
            alive = self.owner_alive(owner)
            out.append(PipelineSummary(pid, name, created, state or "pending", alive, owner))
        return out

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
