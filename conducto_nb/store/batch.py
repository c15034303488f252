"""What the store writer's queue holds, and how a gathered batch of it becomes fewer writes.

A node's life is a burst of small writes (queued, running, its attempt's start, its output,
done, its attempt's end) that the writer takes in one batch. Status rows are the most of them
and only the last row of a path counts, so a batch's rows of one pipeline are one upsert; an
attempt's start and end are one row, a batch's attempts of one pipeline one write;
consecutive output chunks of one stream are one append.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from .attempts import AttemptEnd, AttemptStart, Written

if TYPE_CHECKING:
    from .pipelines import StatusRow, Store

__all__ = ["AppendKey", "Appended", "Attempted", "Op", "StatusRows", "coalesce"]

AppendKey = tuple[str, str, int, str]  # pipeline id, path, attempt, stream


class Op:
    """One queued write: `count` calls to the writer, applied by `apply` on the writer thread."""

    __slots__ = ("apply", "count", "joined", "what")

    def __init__(
        self, what: str, apply: Callable[[], None], count: int = 1, joined: bool = False
    ) -> None:
        self.what, self.apply, self.count = what, apply, count
        self.joined = joined  # part of the previous op's run: commit with it


class Appended(NamedTuple):
    key: AppendKey
    text: str


class StatusRows(NamedTuple):
    pipeline_id: str
    rows: list[StatusRow]


class Attempted(NamedTuple):
    pipeline_id: str
    start: AttemptStart | None
    end: AttemptEnd | None


Item = Op | Appended | StatusRows | Attempted


def coalesce(items: list[Item], store: Store) -> list[Op]:
    """The batch as ops, in order, except that each pipeline's status rows are one upsert (the
    last row of each path) where its last rows were queued, its attempts one write where its
    last attempt was queued, and each run of consecutive appends is one op per stream. Moving
    rows later is safe: only this writer writes them, and a reader sees them at most one
    transaction (BATCH_SECONDS) late."""
    last_rows = {item.pipeline_id: i for i, item in enumerate(items) if type(item) is StatusRows}
    merged: dict[str, dict[str, StatusRow]] = {pid: {} for pid in last_rows}
    calls = dict.fromkeys(last_rows, 0)
    last_attempts = {it.pipeline_id: i for i, it in enumerate(items) if type(it) is Attempted}
    attempts: dict[str, dict[tuple[str, int], Written]] = {pid: {} for pid in last_attempts}
    ops: list[Op] = []
    run: dict[AppendKey, list[str]] = {}
    for i, item in enumerate([*items, None]):
        if type(item) is Appended:
            run.setdefault(item.key, []).append(item.text)
            continue
        for n, (key, texts) in enumerate(run.items()):
            ops.append(_append_op(store, key, texts, joined=n > 0))
        run = {}
        if type(item) is StatusRows:
            merged[item.pipeline_id].update((row[0], row) for row in item.rows)
            calls[item.pipeline_id] += 1
            if last_rows[item.pipeline_id] == i:
                rows = list(merged[item.pipeline_id].values())
                ops.append(_statuses_op(store, item.pipeline_id, rows, calls[item.pipeline_id]))
        elif type(item) is Attempted:
            _merge_attempt(attempts[item.pipeline_id], item)
            if last_attempts[item.pipeline_id] == i:
                ops.append(_attempts_op(store, item.pipeline_id, attempts[item.pipeline_id]))
        elif item is not None:
            assert isinstance(item, Op)
            ops.append(item)
    return ops


def _merge_attempt(kept: dict[tuple[str, int], Written], item: Attempted) -> None:
    """An end joins its attempt's start; a start (again) replaces what was kept of it."""
    found = item.start or item.end
    assert found is not None
    key = (found.path, found.attempt)
    if item.start is not None or key not in kept:
        kept[key] = (item.start, item.end)
    else:
        kept[key] = (kept[key][0], item.end)


def _attempts_op(store: Store, pipeline_id: str, kept: dict[tuple[str, int], Written]) -> Op:
    rows = list(kept.values())
    calls = sum((s is not None) + (e is not None) for s, e in rows)
    apply = lambda: store.write_attempts(pipeline_id, rows)  # noqa: E731
    return Op(f"write_attempts for pipeline `{pipeline_id}`", apply, calls)


def _append_op(store: Store, key: AppendKey, texts: list[str], joined: bool) -> Op:
    what = f"append_output {key[1]} for pipeline `{key[0]}`"
    return Op(what, lambda: store.append_output(*key, "".join(texts)), len(texts), joined)


def _statuses_op(store: Store, pipeline_id: str, rows: list[StatusRow], calls: int) -> Op:
    apply = lambda: store.set_statuses(pipeline_id, rows)  # noqa: E731
    return Op(f"set_statuses for pipeline `{pipeline_id}`", apply, calls)
