"""The memory of every pipeline run, so a restarted kernel, another process or the CLI reloads
any pipeline and loses nothing: one sqlite file under $CONDUCTO_NB_HOME.

Several processes use it at once: WAL lets readers go on while a writer commits, a busy timeout
makes writers queue, every transaction is short. The runner's event loop never calls `Store`
itself but a `StoreWriter` (store_writer.py), which applies writes in batches on its own thread.
Output is kept as appended chunks, trimmed from the front to `output_cap` bytes per stream.
Nothing here reads the environment beyond $CONDUCTO_NB_HOME: the runner masks secrets before
they reach the store.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import sqlite3
import string
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from .errors import PipelineNotFound, StoreError
from .store_writer import StoreWriter, tree_json

__all__ = [
    "LEASE_TIMEOUT",
    "AttemptRecord",
    "Owner",
    "PipelineRecord",
    "PipelineSummary",
    "Store",
    "StoreWriter",
    "boot_id",
    "home",
    "new_pipeline_id",
]

SCHEMA_VERSION = 1
LEASE_TIMEOUT = 15.0  # seconds without a heartbeat after which an owner counts as dead
BUSY_TIMEOUT = 10.0  # seconds a writer waits for another process's transaction
_ACTIVE = ("queued", "running")
_OWNER = "owner_pid, owner_boot, owner_heartbeat, owner_control"

_SCHEMA = [
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS pipelines (id TEXT PRIMARY KEY, name TEXT NOT NULL,"
    " created REAL NOT NULL, backend TEXT NOT NULL, tree TEXT NOT NULL, owner_pid INTEGER,"
    " owner_boot TEXT, owner_heartbeat REAL, owner_control TEXT)",
    "CREATE INDEX IF NOT EXISTS pipelines_created ON pipelines (created)",
    "CREATE TABLE IF NOT EXISTS statuses (pipeline_id TEXT NOT NULL REFERENCES pipelines (id)"
    " ON DELETE CASCADE, path TEXT NOT NULL, state TEXT NOT NULL, skipped INTEGER NOT NULL,"
    " PRIMARY KEY (pipeline_id, path)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS attempts (pipeline_id TEXT NOT NULL REFERENCES pipelines (id)"
    " ON DELETE CASCADE, path TEXT NOT NULL, attempt INTEGER NOT NULL, state TEXT NOT NULL,"
    " exit_code INTEGER, started REAL, ended REAL, message TEXT,"
    " PRIMARY KEY (pipeline_id, path, attempt)) WITHOUT ROWID",
    # per stream: bytes kept in output_chunks and bytes dropped from its front
    "CREATE TABLE IF NOT EXISTS output_streams (pipeline_id TEXT NOT NULL REFERENCES pipelines"
    " (id) ON DELETE CASCADE, path TEXT NOT NULL, attempt INTEGER NOT NULL, stream TEXT NOT NULL,"
    " kept INTEGER NOT NULL, dropped INTEGER NOT NULL,"
    " PRIMARY KEY (pipeline_id, path, attempt, stream)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS output_chunks (seq INTEGER PRIMARY KEY, pipeline_id TEXT NOT NULL"
    " REFERENCES pipelines (id) ON DELETE CASCADE, path TEXT NOT NULL, attempt INTEGER NOT NULL,"
    " stream TEXT NOT NULL, text TEXT NOT NULL, nbytes INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS output_chunks_stream"
    " ON output_chunks (pipeline_id, path, attempt, stream, seq)",
]
_STREAM = "pipeline_id = ? AND path = ? AND attempt = ? AND stream = ?"


def home() -> Path:
    """$CONDUCTO_NB_HOME, or ~/.conducto_nb; created (private to the user) if missing."""
    path = Path(os.environ.get("CONDUCTO_NB_HOME") or "~/.conducto_nb").expanduser()
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


@cache
def boot_id() -> str:
    """This machine's boot, so a pid recorded before a reboot is never taken for a live one."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:  # not Linux: stable per host, so only the pid and heartbeat decide
        return f"host:{socket.gethostname()}"


def new_pipeline_id() -> str:
    """A readable random id like Conducto's: ``ktz-mpa``."""
    letters = [secrets.choice(string.ascii_lowercase) for _ in range(6)]
    return "".join(letters[:3]) + "-" + "".join(letters[3:])


@dataclass(frozen=True)
class Owner:
    """The process running a pipeline: its lease is renewed by heartbeats."""

    pid: int
    boot_id: str
    heartbeat: float
    control: str | None = None  # address of the owner's control socket


@dataclass(frozen=True)
class AttemptRecord:
    path: str
    attempt: int
    state: str
    exit_code: int | None
    started: float | None
    ended: float | None
    message: str | None


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


def _owner(row: Iterable[Any]) -> Owner | None:
    pid, boot, heartbeat, control = row
    return None if pid is None else Owner(pid, boot, heartbeat, control)


def _owner_cols(owner: Owner | None) -> tuple[Any, ...]:
    if owner is None:
        return (None, None, None, None)
    return (owner.pid, owner.boot_id, owner.heartbeat, owner.control)


def _pid_alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill would terminate it there: leave it to the heartbeat
        return True
    try:
        os.kill(pid, 0)
    except PermissionError:
        pass  # exists, belongs to another user
    except OSError:
        return False
    try:  # a zombie has exited; its parent just has not reaped it yet
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def _cut(data: bytes, n: int) -> int:
    """`n` moved forward to the next character boundary of UTF-8 `data`."""
    while n < len(data) and data[n] & 0xC0 == 0x80:
        n += 1
    return n


class Store:
    """Pipelines, node statuses, attempts and capped output in sqlite; safe across threads
    (one lock per connection) and processes (WAL, busy timeout)."""

    def __init__(self, path: Path | None = None, *, output_cap: int = 10 * 2**20) -> None:
        if output_cap < 1:
            raise ValueError(f"`output_cap` must be at least 1 byte, not {output_cap}")
        self.path = Path(path) if path is not None else home() / "store.db"
        self.output_cap = output_cap
        self._wlock = threading.RLock()  # the writing connection; held through a batch
        self._rlock = threading.Lock()  # the reading connection: reads never wait on a batch
        self._depth = 0  # nesting of _tx on the writing connection (savepoints inside)
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
            if self._schema_version() != SCHEMA_VERSION:  # a reader need not wait for writers
                with self._tx() as c:
                    for statement in _SCHEMA:
                        c.execute(statement)
                    version = ("schema_version", SCHEMA_VERSION)
                    c.execute("INSERT OR IGNORE INTO meta VALUES (?, ?)", version)
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
                f"INSERT INTO pipelines (id, name, created, backend, tree, {_OWNER})"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (pipeline_id, name, time.time(), backend, tree_text, *_owner_cols(owner)),
            )
            self._upsert_statuses(c, pipeline_id, ((p, s, k) for p, (s, k) in statuses.items()))

    def set_tree(self, pipeline_id: str, tree: Mapping[str, Any]) -> None:
        self._set_tree(pipeline_id, tree_json(tree))

    def _set_tree(self, pipeline_id: str, tree_text: str) -> None:
        self._update(pipeline_id, "tree = ?", (tree_text,))

    def set_statuses(self, pipeline_id: str, changes: Iterable[tuple[str, str, bool]]) -> None:
        """Upsert (path, state, skipped) for each node given."""
        with self._tx(pipeline_id) as c:
            self._upsert_statuses(c, pipeline_id, changes)

    def _upsert_statuses(
        self, c: sqlite3.Connection, pipeline_id: str, changes: Iterable[tuple[str, str, bool]]
    ) -> None:
        c.executemany(
            "INSERT INTO statuses VALUES (?, ?, ?, ?) ON CONFLICT (pipeline_id, path)"
            " DO UPDATE SET state = excluded.state, skipped = excluded.skipped",
            ((pipeline_id, path, state, int(skipped)) for path, state, skipped in changes),
        )

    def start_attempt(self, pipeline_id: str, path: str, attempt: int, started: float) -> None:
        with self._tx(pipeline_id) as c:
            c.execute(
                "INSERT INTO attempts VALUES (?, ?, ?, 'running', NULL, ?, NULL, NULL)"
                " ON CONFLICT (pipeline_id, path, attempt) DO UPDATE SET state = 'running',"
                " exit_code = NULL, started = excluded.started, ended = NULL, message = NULL",
                (pipeline_id, path, attempt, started),
            )

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
    ) -> None:
        """Close an attempt (one that never started, e.g. a worker error, is recorded too)."""
        with self._tx(pipeline_id) as c:
            c.execute(
                "INSERT INTO attempts VALUES (?, ?, ?, ?, ?, NULL, ?, ?)"
                " ON CONFLICT (pipeline_id, path, attempt) DO UPDATE SET state = excluded.state,"
                " exit_code = excluded.exit_code, ended = excluded.ended,"
                " message = excluded.message",
                (pipeline_id, path, attempt, state, exit_code, ended, message),
            )

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

    def set_owner(self, pipeline_id: str, owner: Owner | None) -> None:
        """Take the lease (an Owner) or release it (None: the run ended cleanly)."""
        self._update(pipeline_id, f"({_OWNER}) = (?, ?, ?, ?)", _owner_cols(owner))

    def heartbeat(self, pipeline_id: str, now: float | None = None) -> None:
        """Renew the owner's lease (nothing to renew when the pipeline has no owner)."""
        now = time.time() if now is None else now
        sql = "owner_heartbeat = CASE WHEN owner_pid IS NULL THEN NULL ELSE ? END"
        self._update(pipeline_id, sql, (now,))

    def _update(self, pipeline_id: str, assignments: str, values: tuple[Any, ...]) -> None:
        with self._tx(pipeline_id) as c:
            sql = f"UPDATE pipelines SET {assignments} WHERE id = ?"
            if c.execute(sql, (*values, pipeline_id)).rowcount == 0:
                raise self._not_found(pipeline_id)

    # -- reads -----------------------------------------------------------------------------
    def load(self, pipeline_id: str) -> PipelineRecord:
        """Everything about one pipeline but its output; PipelineNotFound if absent."""
        with self._read(pipeline_id) as c:
            row = c.execute(
                f"SELECT name, created, backend, tree, {_OWNER} FROM pipelines WHERE id = ?",
                (pipeline_id,),
            ).fetchone()
            if row is None:
                raise self._not_found(pipeline_id)
            statuses = {
                path: (state, bool(skipped))
                for path, state, skipped in c.execute(
                    "SELECT path, state, skipped FROM statuses WHERE pipeline_id = ?",
                    (pipeline_id,),
                )
            }
            attempts: dict[str, list[AttemptRecord]] = {}
            for r in c.execute(
                "SELECT path, attempt, state, exit_code, started, ended, message FROM attempts"
                " WHERE pipeline_id = ? ORDER BY path, attempt",
                (pipeline_id,),
            ):
                attempts.setdefault(r[0], []).append(AttemptRecord(*r))
        name, created, backend, tree, *owner_row = row
        owner = _owner(owner_row)
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
        )

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

    def list_pipelines(self) -> list[PipelineSummary]:
        """Every pipeline, newest first."""
        with self._read() as c:
            rows = c.execute(
                f"SELECT id, name, created, state, {_OWNER} FROM pipelines LEFT JOIN statuses"
                " ON pipeline_id = id AND path = '/' ORDER BY created DESC, pipelines.rowid DESC"
            ).fetchall()
        out = []
        for pid, name, created, state, *owner_row in rows:
            owner = _owner(owner_row)
            alive = self.owner_alive(owner)
            out.append(PipelineSummary(pid, name, created, state or "pending", alive, owner))
        return out

    def owner_alive(self, owner: Owner | None) -> bool:
        """Whether the lease holds: same boot, the pid exists, a heartbeat within LEASE_TIMEOUT."""
        return (
            owner is not None
            and owner.boot_id == boot_id()
            and time.time() - owner.heartbeat <= LEASE_TIMEOUT
            and _pid_alive(owner.pid)
        )

    # -- recovery and clean-up -------------------------------------------------------------
    def mark_interrupted(self, pipeline_id: str) -> list[str]:
        """If the owner died, turn every queued or running node to error (skip flag kept) and
        close its open attempt; returns the paths changed. Parents are not derived here."""
        now = time.time()
        with self._tx(pipeline_id) as c:
            row = c.execute(f"SELECT {_OWNER} FROM pipelines WHERE id = ?", (pipeline_id,))
            found = row.fetchone()
            if found is None:
                raise self._not_found(pipeline_id)
            owner = _owner(found)
            if self.owner_alive(owner):
                return []
            active = (pipeline_id, *_ACTIVE)
            paths = [
                p
                for (p,) in c.execute(
                    "SELECT path FROM statuses WHERE pipeline_id = ? AND state IN (?, ?)"
                    " ORDER BY path",
                    active,
                )
            ]
            c.execute(
                "UPDATE statuses SET state = 'error' WHERE pipeline_id = ? AND state IN (?, ?)",
                active,
            )
            who = f" (pid {owner.pid})" if owner is not None else ""
            message = f"interrupted: the process that ran this pipeline{who} died"
            c.execute(
                "UPDATE attempts SET state = 'error', ended = ?, message = ?"
                " WHERE pipeline_id = ? AND ended IS NULL",
                (now, message, pipeline_id),
            )
        return paths

    def delete(self, pipeline_id: str) -> None:
        """Forget a pipeline with its statuses, attempts and output."""
        with self._tx(pipeline_id) as c:
            if c.execute("DELETE FROM pipelines WHERE id = ?", (pipeline_id,)).rowcount == 0:
                raise self._not_found(pipeline_id)

    def gc(self, older_than: float, now: float | None = None) -> list[str]:
        """Delete pipelines created over `older_than` seconds ago whose owner is not alive."""
        cutoff = (time.time() if now is None else now) - older_than
        with self._tx() as c:
            rows = c.execute(
                f"SELECT id, {_OWNER} FROM pipelines WHERE created < ? ORDER BY created",
                (cutoff,),
            ).fetchall()
            ids = [pid for pid, *owner in rows if not self.owner_alive(_owner(owner))]
            c.executemany("DELETE FROM pipelines WHERE id = ?", ((pid,) for pid in ids))
        return ids

    def close(self) -> None:
        """Close both connections; idempotent. Later calls raise StoreError."""
        with self._wlock, self._rlock:
            for conn in (self._wconn, self._rconn):
                if conn is not None:
                    conn.close()
            self._wconn = self._rconn = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
