"""Store writes off the caller's thread, because the runner's event loop must never wait on
sqlite: each call queues and returns; a daemon thread applies the queue in order, in batched
transactions, each write in a savepoint of its own so one failure does not sink the batch.

A failure is never lost: the first one is kept and raised, as StoreError, from the next
`flush()` or `close()`. Writers left open are flushed when the interpreter exits.
"""

from __future__ import annotations

import atexit
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import StoreError
from .attempts import AttemptEnd, AttemptStart
from .batch import Appended, Attempted, Item, Op, StatusRows, coalesce
from .db import tree_json

if TYPE_CHECKING:
    from ..model.states import CallbackFired, ImageChanged
    from .lease import Owner
    from .pipelines import StatusRow, Store


__all__ = ["StoreWriter"]

BATCH_SECONDS = 0.05  # commit at least this often while busy
#: Once woken, the thread lets the writes that follow gather this long (unless a flush or a
#: close is waiting), so a burst (an attempt's start, its states, its end) is one transaction
#: instead of one each, and the thread wakes once: it takes the GIL from the runner less.
GATHER_SECONDS = 0.005


class StoreWriter:
    """Batches writes to a `Store` on a daemon thread; methods mirror Store's writes and
    return at once. Does not close the store."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)  # the thread waits for ops
        self._flushed = threading.Condition(self._lock)  # flush() waits for the thread
        self._queue: deque[Item] = deque()
        self._queued = 0  # calls queued so far
        self._done = 0  # calls applied (committed, or failed and recorded)
        self._error: tuple[str, BaseException] | None = None
        self._closing = False
        self._idle = False  # the thread waits for work: a write wakes it
        self._hurry = False  # a flush waits: no gathering
        self._stopped = False  # the thread has ended
        self._reached = 0  # how far the transaction being applied got
        self._thread = threading.Thread(target=self._run, name="conducto_nb-store", daemon=True)
        self._thread.start()
        _open_writers.add(self)

    # -- the mirrored writes ---------------------------------------------------------------
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
        args = (pipeline_id, name, tree_json(tree), backend, owner, dict(statuses))
        self._put(pipeline_id, "create_pipeline", lambda: self._store._create_pipeline(*args))

    def set_tree(self, pipeline_id: str, tree: Mapping[str, Any]) -> None:
        text = tree_json(tree)  # a snapshot: the caller may change the dict later
        self._put(pipeline_id, "set_tree", lambda: self._store._set_tree(pipeline_id, text))

    def set_statuses(self, pipeline_id: str, changes: Iterable[StatusRow]) -> None:
        self._enqueue(StatusRows(pipeline_id, list(changes)))

    def start_attempt(
        self, pipeline_id: str, path: str, attempt: int, started: float, queued: float | None = None
    ) -> None:
        self._enqueue(Attempted(pipeline_id, AttemptStart(path, attempt, started, queued), None))

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
        end = AttemptEnd(path, attempt, state, exit_code, ended, message, result)
        self._enqueue(Attempted(pipeline_id, None, end))

    def append_output(
        self, pipeline_id: str, path: str, attempt: int, stream: str, text: str
    ) -> None:
        self._enqueue(Appended((pipeline_id, path, attempt, stream), text))

    def set_image(self, pipeline_id: str, image: ImageChanged) -> None:
        self._put(
            pipeline_id,
            f"set_image {image.label}",
            lambda: self._store.set_image(pipeline_id, image),
        )

    def append_image_log(self, pipeline_id: str, key: str, text: str) -> None:
        self._put(
            pipeline_id,
            "append_image_log",
            lambda: self._store.append_image_log(pipeline_id, key, text),
        )

    def add_callback(self, pipeline_id: str, fired: CallbackFired) -> None:
        self._put(
            pipeline_id,
            f"callback {fired.label}",
            lambda: self._store.add_callback(pipeline_id, fired),
        )

    def set_owner(self, pipeline_id: str, owner: Owner | None) -> None:
        self._put(pipeline_id, "set_owner", lambda: self._store.set_owner(pipeline_id, owner))

    def renew(self, pid: int, boot: str, now: float | None = None) -> None:
        now = time.time() if now is None else now  # the time of the call, not of the write
        self._enqueue(
            Op(f"renew the leases of process {pid}", lambda: self._store.renew(pid, boot, now))
        )

    # -- control ---------------------------------------------------------------------------
    def flush(self, timeout: float | None = None) -> None:
        """Return once everything queued before this call is committed; raise StoreError for
        the first write that failed since the last flush, or if `timeout` seconds pass."""
        with self._lock:
            target = self._queued
            self._hurry = True
            self._work.notify()
            done = self._flushed.wait_for(lambda: self._done >= target or self._stopped, timeout)
        self._raise_error()
        if not done:
            raise StoreError(f"store writes to {self._store.path} not committed in {timeout}s")

    def close(self, timeout: float | None = None) -> None:
        """Flush, then stop the thread; idempotent. Later writes raise StoreError."""
        with self._lock:
            self._closing = True
            self._work.notify()
        self._thread.join(timeout)
        _open_writers.discard(self)
        self._raise_error()
        if self._thread.is_alive():
            raise StoreError(f"store writes to {self._store.path} not committed in {timeout}s")

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the queue and the thread ----------------------------------------------------------
    def _put(self, pipeline_id: str, what: str, apply: Callable[[], None]) -> None:
        self._enqueue(Op(f"{what} for pipeline `{pipeline_id}`", apply))

    def _enqueue(self, item: Item) -> None:
        with self._lock:
            if self._closing or self._stopped:
                raise StoreError(f"the store writer for {self._store.path} is closed")
            self._queue.append(item)
            self._queued += 1
            if self._idle:
                self._work.notify()

    def _raise_error(self) -> None:
        with self._lock:
            error, self._error = self._error, None
        if error is not None:
            what, e = error
            raise StoreError(f"a background store write failed ({what}): {e}") from e

    def _record(self, what: str, e: BaseException) -> None:
        with self._lock:
            if self._error is None:
                self._error = (what, e)

    def _run(self) -> None:
        try:
            while True:
                with self._lock:
                    self._idle = True
                    self._work.wait_for(lambda: bool(self._queue) or self._closing)
                    self._idle = False
                    if not self._queue:
                        return
                    if GATHER_SECONDS and not (self._closing or self._hurry):
                        self._work.wait_for(lambda: self._closing or self._hurry, GATHER_SECONDS)
                    self._hurry = False
                    items = list(self._queue)
                    self._queue.clear()
                self._apply(coalesce(items, self._store))
        except BaseException as e:  # a bug here must still reach flush(), not hang it
            self._record("the writer thread", e)
        finally:
            with self._lock:
                self._stopped = True
                self._flushed.notify_all()

    def _apply(self, ops: list[Op]) -> None:
        """Apply ops in transactions of about BATCH_SECONDS each, counting them done. A
        transaction first runs its writes as they are; if one fails, it is rolled back and
        run again with each write in a savepoint of its own, so only that write is lost."""
        i = 0
        while i < len(ops):
            start = i
            try:
                i = self._transaction(ops, start)
            except _Failed as failed:
                try:
                    i = self._transaction(ops, start, failed.end)
                except Exception as e:
                    i = failed.end
                    self._record(f"{i - start} writes", e)
            except Exception as e:  # BEGIN or COMMIT failed: this batch is lost
                i = max(self._reached, start + 1)
                self._record(ops[start].what if i == start + 1 else f"{i - start} writes", e)
            with self._lock:
                self._done += sum(op.count for op in ops[start:i])
                self._flushed.notify_all()

    def _transaction(self, ops: list[Op], start: int, end: int | None = None) -> int:
        """One transaction from ops[start]: with `end`, ops[start:end] each in a savepoint;
        else as many as BATCH_SECONDS allows, none in a savepoint (_Failed if one fails).
        Returns where the next one starts."""
        store, i = self._store, start
        deadline = time.monotonic() + BATCH_SECONDS
        with store._tx():
            if end is not None:
                for op in ops[start:end]:
                    try:
                        op.apply()  # (in a savepoint of its own: Store's writes nest)
                    except Exception as e:
                        self._record(op.what, e)
                return end
            store._flat = True
            try:
                while i < len(ops) and (i == start or ops[i].joined or time.monotonic() < deadline):
                    op, i = ops[i], i + 1
                    self._reached = i
                    try:
                        op.apply()
                    except Exception:
                        raise _Failed(i) from None
            finally:
                store._flat = False
        return i


class _Failed(Exception):
    """A write of a transaction failed: it is redone up to `end`, each write on its own."""

    def __init__(self, end: int) -> None:
        self.end = end


_open_writers: weakref.WeakSet[StoreWriter] = weakref.WeakSet()


@atexit.register
def _close_open_writers() -> None:
    for writer in list(_open_writers):
        try:
            writer.close(timeout=10.0)
        except StoreError as e:
            print(f"conducto_nb: {e}", file=sys.stderr)
