"""Who runs each pipeline, and what follows when that process dies: the owner's lease (pid, boot,
heartbeat), the test of whether it holds, and the recovery and clean-up of pipelines whose owner
is gone. Kept apart from the rest of the store because only here is "alive" decided.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from .db import StoreDB

__all__ = [
    "LEASE_TIMEOUT",
    "OWNER_COLS",
    "LeaseStore",
    "Owner",
    "boot_id",
    "owner_cols",
    "owner_from",
    "pid_alive",
]

LEASE_TIMEOUT = 15.0  # seconds without a heartbeat after which an owner counts as dead
OWNER_COLS = "owner_pid, owner_boot, owner_heartbeat, owner_control"  # in the pipelines table
_ACTIVE = ("queued", "running")


@cache
def boot_id() -> str:
    """This machine's boot, so a pid recorded before a reboot is never taken for a live one."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:  # not Linux: stable per host, so only the pid and heartbeat decide
        return f"host:{socket.gethostname()}"


@dataclass(frozen=True)
class Owner:
    """The process running a pipeline: its lease is renewed by heartbeats."""

    pid: int
    boot_id: str
    heartbeat: float
    control: str | None = None  # address of the owner's control socket


def owner_from(row: Iterable[Any]) -> Owner | None:
    pid, boot, heartbeat, control = row
    return None if pid is None else Owner(pid, boot, heartbeat, control)


def owner_cols(owner: Owner | None) -> tuple[Any, ...]:
    if owner is None:
        return (None, None, None, None)
    return (owner.pid, owner.boot_id, owner.heartbeat, owner.control)


#: Slack when comparing a process's start (whole seconds of boot time, clock ticks) with a
#: heartbeat it wrote.
_START_SLACK = 2.0


@cache
def _boot_time() -> float | None:
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("btime "):
                return float(line.split()[1])
    except OSError:
        pass
    return None


def pid_alive(pid: int, seen_at: float | None = None) -> bool:
    """Process `pid` of this boot exists and has not exited; with `seen_at` (a time that
    process wrote), also that it is the same process, not a later one given the same pid."""
    if os.name == "nt":  # os.kill would terminate it there: leave it to the heartbeat
        return True
    try:
        os.kill(pid, 0)
    except PermissionError:
        pass  # exists, belongs to another user
    except OSError:
        return False
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return True
    if fields[:1] == ["Z"]:  # a zombie has exited; its parent just has not reaped it yet
        return False
    boot = _boot_time()
    if seen_at is not None and boot is not None and len(fields) > 19:
        started = boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
        return started <= seen_at + _START_SLACK
    return True


class LeaseStore(StoreDB):
    """The part of `Store` that takes, renews and judges leases, and acts on dead ones."""

    def set_owner(self, pipeline_id: str, owner: Owner | None) -> None:
        """Take the lease (an Owner) or release it (None: the run ended cleanly)."""
        self._update(pipeline_id, f"({OWNER_COLS}) = (?, ?, ?, ?)", owner_cols(owner))

    def claim(self, pipeline_id: str, owner: Owner, force: bool = False) -> Owner | None:
        """Take the lease of a pipeline whose owner is gone, in one transaction, so of two
        processes adopting it at once exactly one wins. None when taken; else the live owner
        that holds it (`force`: take it all the same)."""
        with self._tx(pipeline_id) as c:
            holder = self._owner_in(c, pipeline_id)
            ours = holder is not None and (holder.pid, holder.boot_id) == (
                owner.pid,
                owner.boot_id,
            )
            if not ours and not force and self.owner_alive(holder):
                return holder
            c.execute(
                f"UPDATE pipelines SET ({OWNER_COLS}) = (?, ?, ?, ?) WHERE id = ?",
                (*owner_cols(owner), pipeline_id),
            )
        return None

    def _owner_in(self, c: sqlite3.Connection, pipeline_id: str) -> Owner | None:
        """The pipeline's owner as this transaction sees it; PipelineNotFound if none."""
        row = c.execute(f"SELECT {OWNER_COLS} FROM pipelines WHERE id = ?", (pipeline_id,))
        found = row.fetchone()
        if found is None:
            raise self._not_found(pipeline_id)
        return owner_from(found)

    def renew(self, pid: int, boot: str, now: float | None = None) -> None:
        """Renew every lease process `pid` of boot `boot` holds, in one statement (a kernel
        that ran a thousand pipelines renews one row set, not a thousand)."""
        now = time.time() if now is None else now
        with self._tx() as c:
            c.execute(
                "UPDATE pipelines SET owner_heartbeat = ? WHERE owner_pid = ? AND owner_boot = ?"
                " AND owner_control IS NOT NULL",  # not the runs it launched detached
                (now, pid, boot),
            )

    def owner_alive(self, owner: Owner | None) -> bool:
        """Whether the lease holds: same boot, the pid exists, a heartbeat within LEASE_TIMEOUT."""
        return (
            owner is not None
            and owner.boot_id == boot_id()
            and time.time() - owner.heartbeat <= LEASE_TIMEOUT
            and pid_alive(owner.pid, owner.heartbeat)
        )

    # -- recovery and clean-up -------------------------------------------------------------
    def mark_interrupted(self, pipeline_id: str) -> list[str]:
        """If the owner died, turn every queued or running node to error (skip flag kept) and
        close its open attempt; returns the paths changed. Parents are not derived here."""
        now = time.time()
        with self._tx(pipeline_id) as c:
            owner = self._owner_in(c, pipeline_id)
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
            open_ = {
                p
                for (p,) in c.execute(
                    "SELECT path FROM attempts WHERE pipeline_id = ? AND ended IS NULL",
                    (pipeline_id,),
                )
            }
            c.execute(
                "UPDATE attempts SET state = 'error', ended = ?, message = ?"
                " WHERE pipeline_id = ? AND ended IS NULL",
                (now, message, pipeline_id),
            )
            # A queued Exec (a leaf) that never started has no attempt to say why: give it one.
            leaves = [
                p
                for p in paths
                if p not in open_ and not any(q.startswith(p.rstrip("/") + "/") for q in paths)
            ]
            for path in leaves:
                c.execute(
                    "INSERT INTO attempts (pipeline_id, path, attempt, state, ended, message)"
                    " SELECT ?, ?, COALESCE(MAX(attempt), 0) + 1, 'error', ?, ? FROM attempts"
                    " WHERE pipeline_id = ? AND path = ?",
                    (
                        pipeline_id,
                        path,
                        now,
                        message.replace(":", " before it started:", 1),
                        pipeline_id,
                        path,
                    ),
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
                f"SELECT id, {OWNER_COLS} FROM pipelines WHERE created < ? ORDER BY created",
                (cutoff,),
            ).fetchall()
            ids = [pid for pid, *owner in rows if not self.owner_alive(owner_from(owner))]
            c.executemany("DELETE FROM pipelines WHERE id = ?", ((pid,) for pid in ids))
        return ids
