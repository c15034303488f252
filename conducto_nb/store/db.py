"""The sqlite plumbing under `Store`, apart from what the store keeps: every table in one place,
the two connections (WAL, busy timeout), short transactions and the errors they raise.

The parts of `Store` (pipelines.py, lease.py, output.py) inherit `StoreDB` and only
ever touch the file through `_tx` and `_read`.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import PipelineNotFound, StoreError

__all__ = ["BUSY_TIMEOUT", "SCHEMA", "SCHEMA_VERSION", "StoreDB", "home", "tree_json"]

SCHEMA_VERSION = 6  # 2: images; 3: statuses.blocked_by; 4: attempts.result and .queued;
# 5: callbacks; 6: webhook deliveries
BUSY_TIMEOUT = 10.0  # seconds a writer waits for another process's transaction
WAL_LIMIT = 1 << 20  # bytes of WAL kept after a checkpoint; sqlite checkpoints every ~4 MB

# Every table and index, in one place: a new table is one more entry here (and its reads and
# writes a part of Store of their own, like output.py) and SCHEMA_VERSION + 1. Changes
# are additive (IF NOT EXISTS, and COLUMNS below): a store of an older version is brought up to
# this one by running them all again; a store of a newer version is refused.
SCHEMA = [
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    # pipelines, each node's status, each attempt of a node (pipelines.py, lease.py)
    "CREATE TABLE IF NOT EXISTS pipelines (id TEXT PRIMARY KEY, name TEXT NOT NULL,"
    " created REAL NOT NULL, backend TEXT NOT NULL, tree TEXT NOT NULL, owner_pid INTEGER,"
    " owner_boot TEXT, owner_heartbeat REAL, owner_control TEXT)",
    "CREATE INDEX IF NOT EXISTS pipelines_created ON pipelines (created)",
    "CREATE TABLE IF NOT EXISTS statuses (pipeline_id TEXT NOT NULL REFERENCES pipelines (id)"
    " ON DELETE CASCADE, path TEXT NOT NULL, state TEXT NOT NULL, skipped INTEGER NOT NULL,"
    " blocked_by TEXT, PRIMARY KEY (pipeline_id, path)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS attempts (pipeline_id TEXT NOT NULL REFERENCES pipelines (id)"
    " ON DELETE CASCADE, path TEXT NOT NULL, attempt INTEGER NOT NULL, state TEXT NOT NULL,"
    " exit_code INTEGER, started REAL, ended REAL, message TEXT, result TEXT, queued REAL,"
    " PRIMARY KEY (pipeline_id, path, attempt)) WITHOUT ROWID",
    # output (output.py), per stream: bytes kept in output_chunks and bytes dropped from
    # its front
    "CREATE TABLE IF NOT EXISTS output_streams (pipeline_id TEXT NOT NULL REFERENCES pipelines"
    " (id) ON DELETE CASCADE, path TEXT NOT NULL, attempt INTEGER NOT NULL, stream TEXT NOT NULL,"
    " kept INTEGER NOT NULL, dropped INTEGER NOT NULL,"
    " PRIMARY KEY (pipeline_id, path, attempt, stream)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS output_chunks (seq INTEGER PRIMARY KEY, pipeline_id TEXT NOT NULL"
    " REFERENCES pipelines (id) ON DELETE CASCADE, path TEXT NOT NULL, attempt INTEGER NOT NULL,"
    " stream TEXT NOT NULL, text TEXT NOT NULL, nbytes INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS output_chunks_stream"
    " ON output_chunks (pipeline_id, path, attempt, stream, seq)",
    # the co.Images a pipeline uses: build state and the last of the build's log
    # (images.py); `seq` keeps the order of first use
    "CREATE TABLE IF NOT EXISTS images (pipeline_id TEXT NOT NULL REFERENCES pipelines (id)"
    " ON DELETE CASCADE, key TEXT NOT NULL, seq INTEGER NOT NULL, label TEXT NOT NULL,"
    " state TEXT NOT NULL, nodes TEXT NOT NULL, tag TEXT, message TEXT, started REAL,"
    " ended REAL, log TEXT NOT NULL DEFAULT '', PRIMARY KEY (pipeline_id, key)) WITHOUT ROWID",
    # the callbacks that fired, what they did and whether it worked (callbacks.py)
    "CREATE TABLE IF NOT EXISTS callbacks (seq INTEGER PRIMARY KEY, pipeline_id TEXT NOT NULL"
    " REFERENCES pipelines (id) ON DELETE CASCADE, path TEXT NOT NULL, event TEXT NOT NULL,"
    " label TEXT NOT NULL, fired REAL NOT NULL, ok INTEGER, message TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS callbacks_pipeline ON callbacks (pipeline_id, seq)",
    # GitHub webhook deliveries, one per X-GitHub-Delivery, and the pipelines each started
    # (deliveries.py); a pipeline is linked by its id alone: it may be written later
    "CREATE TABLE IF NOT EXISTS deliveries (id TEXT PRIMARY KEY, received REAL NOT NULL,"
    " repo TEXT NOT NULL, github_event TEXT NOT NULL, event TEXT NOT NULL, vals TEXT NOT NULL,"
    " trusted INTEGER NOT NULL, state TEXT NOT NULL, detail TEXT NOT NULL) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS deliveries_received ON deliveries (received)",
    "CREATE TABLE IF NOT EXISTS delivery_pipelines (delivery_id TEXT NOT NULL REFERENCES"
    " deliveries (id) ON DELETE CASCADE, pipeline_id TEXT NOT NULL, linked REAL NOT NULL,"
    " PRIMARY KEY (delivery_id, pipeline_id)) WITHOUT ROWID",
]

# Columns added to a table after it first shipped: (table, column, its declaration). An older
# store gets them when it is opened; the CREATE TABLE above has them for a new one.
COLUMNS = [
    ("statuses", "blocked_by", "TEXT"),  # the failed step a blocked node waits for (3)
    ("attempts", "result", "TEXT"),  # the repr of what a callable returned (4)
    ("attempts", "queued", "REAL"),  # when the scheduler said to start it (4)
]


def home() -> Path:
    """$CONDUCTO_NB_HOME, or ~/.conducto_nb; created (private to the user) if missing."""
    path = Path(os.environ.get("CONDUCTO_NB_HOME") or "~/.conducto_nb").expanduser()
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


class StoreDB:
    """One store file opened twice: a writing connection and a reading one, each behind its
    own lock, so reads never wait on a batch of writes."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else home() / "store.db"
        self._wlock = threading.RLock()  # the writing connection; held through a batch
        self._rlock = threading.Lock()  # the reading connection: reads never wait on a batch
        self._depth = 0  # nesting of _tx on the writing connection (savepoints inside)
        self._flat = False  # nested _tx are no savepoints: the whole batch commits or redoes
        self._wconn: sqlite3.Connection | None = None
        self._rconn: sqlite3.Connection | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._wconn = self._connect()
            self._use_wal(self._wconn)
            self._rconn = self._connect()
        except (OSError, sqlite3.Error) as e:
            self.close()
            raise StoreError(f"cannot open the store {self.path}: {e}") from e
        try:
            found = self._schema_version()  # a reader need not wait for writers
            if found is None or found < SCHEMA_VERSION:
                with self._tx() as c:
                    for statement in SCHEMA:
                        c.execute(statement)
                    for table, column, declaration in COLUMNS:
                        have = {row[1] for row in c.execute(f"PRAGMA table_info({table})")}
                        if column not in have:
                            c.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
                    c.execute(  # never lowers what a newer conducto_nb wrote meanwhile
                        "INSERT INTO meta VALUES ('schema_version', ?) ON CONFLICT (key) DO"
                        " UPDATE SET value = excluded.value"
                        " WHERE CAST(value AS INTEGER) < CAST(excluded.value AS INTEGER)",
                        (SCHEMA_VERSION,),
                    )
            if (found := self._schema_version()) != SCHEMA_VERSION:
                raise StoreError(
                    f"the store {self.path} has schema version {found}; this conducto_nb reads"
                    f" version {SCHEMA_VERSION} (a newer store needs a newer conducto_nb)"
                )
        except BaseException:
            self.close()
            raise

    def _schema_version(self) -> int | None:
        with self._read() as c:
            if not c.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone():
                return None
            row = c.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return None if row is None else int(row[0])

    @staticmethod
    def _use_wal(conn: sqlite3.Connection) -> None:
        """Switch a new database to WAL. The switch ignores the busy timeout, and processes
        opening a new store at once race for it: retry while another holds the lock."""
        deadline = time.monotonic() + BUSY_TIMEOUT
        while True:
            try:
                if conn.execute("PRAGMA journal_mode = WAL").fetchone()[0] == "wal":
                    return
            except sqlite3.OperationalError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.01)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
        )
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")  # WAL: durable across a process crash
        conn.execute(f"PRAGMA journal_size_limit = {WAL_LIMIT}")  # truncated after checkpoints
        return conn

    def _error(self, e: sqlite3.Error, pipeline_id: str | None) -> StoreError:
        if pipeline_id is not None and isinstance(e, sqlite3.IntegrityError):
            if "FOREIGN KEY" in str(e):
                return self._not_found(pipeline_id)
            if "pipelines.id" in str(e):
                return StoreError(f"pipeline `{pipeline_id}` already exists in {self.path}")
        about = f"pipeline `{pipeline_id}`: " if pipeline_id else ""
        return StoreError(f"{about}store {self.path}: {e}")

    def _not_found(self, pipeline_id: str) -> PipelineNotFound:
        return PipelineNotFound(f"no pipeline `{pipeline_id}` in the store {self.path}")

    def _open(self, conn: sqlite3.Connection | None) -> sqlite3.Connection:
        if conn is None:
            raise StoreError(f"the store {self.path} is closed")
        return conn

    @contextmanager
    def _tx(self, pipeline_id: str | None = None) -> Iterator[sqlite3.Connection]:
        """One write transaction; nested calls (a StoreWriter batch) become savepoints."""
        with self._wlock:
            conn = self._open(self._wconn)
            depth, sp = self._depth, f"sp{self._depth}"
            if depth and self._flat:  # a writer's batch: one failure redoes it (writer.py)
                yield conn
                return
            try:
                conn.execute("BEGIN IMMEDIATE" if depth == 0 else f"SAVEPOINT {sp}")
            except sqlite3.Error as e:
                raise self._error(e, pipeline_id) from e
            self._depth += 1
            try:
                yield conn
                conn.execute("COMMIT" if depth == 0 else f"RELEASE {sp}")
            except BaseException as e:
                try:
                    conn.execute("ROLLBACK" if depth == 0 else f"ROLLBACK TO {sp}")
                    if depth:
                        conn.execute(f"RELEASE {sp}")
                except sqlite3.Error:
                    pass  # the transaction is gone already
                if isinstance(e, sqlite3.Error):
                    raise self._error(e, pipeline_id) from e
                raise
            finally:
                self._depth = depth

    @contextmanager
    def _read(self, pipeline_id: str | None = None) -> Iterator[sqlite3.Connection]:
        """One read transaction: a consistent snapshot that never waits for writers."""
        with self._rlock:
            conn = self._open(self._rconn)
            try:
                conn.execute("BEGIN")
                try:
                    yield conn
                finally:
                    conn.execute("COMMIT")
            except sqlite3.Error as e:
                raise self._error(e, pipeline_id) from e

    def _update(self, pipeline_id: str, assignments: str, values: tuple[Any, ...]) -> None:
        with self._tx(pipeline_id) as c:
            sql = f"UPDATE pipelines SET {assignments} WHERE id = ?"
            if c.execute(sql, (*values, pipeline_id)).rowcount == 0:
                raise self._not_found(pipeline_id)

    def close(self) -> None:
        """Close both connections, folding the WAL into the store first; idempotent. Later
        calls raise StoreError."""
        with self._wlock, self._rlock:
            if self._wconn is not None:
                with contextlib.suppress(sqlite3.Error):  # busy: the next closer does it
                    self._wconn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            for conn in (self._wconn, self._rconn):
                if conn is not None:
                    conn.close()
            self._wconn = self._rconn = None


def tree_json(tree: Mapping[str, Any]) -> str:
    """A tree's JSON text; any Mapping serialises as an object."""
    try:
        return json.dumps(tree, default=_plain)
    except (TypeError, ValueError) as e:
        raise StoreError(f"a tree the store cannot keep as JSON: {e}") from e


def _plain(obj: object) -> object:
    if isinstance(obj, Mapping):
        return dict(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")
