"""What the lab extension's REST endpoints answer, as plain dicts, read from the store so
every recorded pipeline shows whichever process ran it (a kernel, the CLI, a detached run, a
webhook delivery). A pipeline's graph is built by the widget's own `StoreSource`, so the
main-area tab gets exactly the messages the notebook widget gets: one graph, not two.
"""

from __future__ import annotations

import importlib.util
import time
from typing import Any

from ..errors import NodeNotFound, PipelineNotFound
from ..model.states import ACTIVE, FAILED, State
from ..run.runs import load, shared_store
from ..store.pipelines import PipelineRecord, PipelineSummary
from ..widget.encode import encode, state_string
from ..widget.feed import Feed
from ..widget.images import encode_images
from ..widget.run_sources import StoreSource

__all__ = ["graph", "image_detail", "node_detail", "pipeline_summary", "pipelines", "timeline"]

#: Summaries of pipelines nothing runs (no live owner, not active), by store and id, with the
#: list row they were read for: every open panel asks each second, and those rows rarely change
#: (a rerun gives the pipeline a live owner, which changes its row).
_SETTLED: dict[tuple[str, str], tuple[PipelineSummary, dict[str, Any]]] = {}


def pipelines(kernel_pids: frozenset[int] | set[int] = frozenset()) -> list[dict[str, Any]]:
    """Every recorded pipeline, newest first, with what the side panel shows of it, and
    whether one of `kernel_pids` (this server's kernels) runs it (`in_this_lab`)."""
    store = shared_store()
    where = str(store.path)
    out = []
    for summary in store.list_pipelines():
        cached = _SETTLED.get((where, summary.id))
        if cached is not None and cached[0] == summary:
            out.append(_mark(cached[1], kernel_pids))
            continue
        try:
            rec = store.load(summary.id)
        except PipelineNotFound:  # pragma: no cover - deleted (gc) between the two reads
            continue
        row = pipeline_summary(rec)
        if not summary.owner_alive and State(summary.state) not in ACTIVE:
            _SETTLED[where, summary.id] = (summary, row)
        out.append(_mark(row, kernel_pids))
    return out


def _mark(row: dict[str, Any], kernel_pids: frozenset[int] | set[int]) -> dict[str, Any]:
    return {**row, "in_this_lab": row["owner_pid"] in kernel_pids}


def pipeline_summary(rec: PipelineRecord) -> dict[str, Any]:
    """State, counts of the Execs' states, first start, duration, and who runs it."""
    paths = sorted(rec.statuses)
    counts: dict[str, int] = {}
    for i, path in enumerate(paths):
        below = "/" if path == "/" else path + "/"
        if i + 1 < len(paths) and paths[i + 1].startswith(below):
            continue  # not a leaf: its state derives from its children's
        state = rec.statuses[path][0]
        counts[state] = counts.get(state, 0) + 1
    state = rec.state
    if State(state) in ACTIVE and not rec.owner_alive:
        state = "interrupted"  # its owner died mid-run: nothing runs any more
    attempts = [a for atts in rec.attempts.values() for a in atts]
    started = min((a.started for a in attempts if a.started is not None), default=None)
    ends = [a.ended for a in attempts if a.ended is not None]
    running = state in (State.QUEUED, State.RUNNING)
    ended = None if running or not ends else max(ends)
    duration = None
    if started is not None:
        duration = (ended if ended is not None else time.time()) - started
    return {
        "id": rec.id,
        "name": rec.name,
        "state": state,
        "created": rec.created,
        "started": started,
        "ended": ended,
        "duration": duration,
        "counts": counts,
        "failed": sum(counts.get(s, 0) for s in FAILED),
        "backend": rec.backend,
        "owner_alive": rec.owner_alive,
        "owner_pid": rec.owner.pid if rec.owner is not None else None,
    }


def _source(pipeline_id: str) -> tuple[StoreSource, Feed]:
    """The widget's source for a stored run, with its states read (PipelineNotFound if absent)."""
    source = StoreSource(load(pipeline_id))
    feed = Feed(lambda: None)
    source.snapshot(feed)
    return source, feed


def graph(pipeline_id: str) -> dict[str, Any]:
    """The graph component's `tree`, `header` and `images`, as the widget's traits carry them."""
    source, feed = _source(pipeline_id)
    with feed.lock:
        flat, states = feed.flat, state_string(feed.flat, feed.codes)
        images = encode_images(feed.images.values())
    tree = {**encode(flat), "rev": 1, "states": states, "seq": 0}
    header = {"uid": f"lab-{pipeline_id}", **source.header(feed)}
    header["actions"] = _with_debug(header["actions"])
    return {"tree": tree, "header": header, "images": images}


def _with_debug(actions: list[str]) -> list[str]:
    """A panel offers "debug" (a terminal in the node's container, debug_hook.py) once the
    debug package (conducto_nb.debug, the %co_debug magic) is installed."""
    if "debug" in actions or importlib.util.find_spec("conducto_nb.debug") is None:
        return actions
    return [*actions, "debug"]


def node_detail(pipeline_id: str, path: str) -> dict[str, Any]:
    """A node panel's `detail` message (NodeNotFound for a path not in the tree)."""
    source, feed = _source(pipeline_id)
    if path not in feed.codes:
        raise NodeNotFound(f"pipeline {pipeline_id} has no node {path}")
    detail = source.detail(feed, path)
    if "actions" in detail:
        detail["actions"] = _with_debug(detail["actions"])
    return detail


def image_detail(pipeline_id: str, key: str) -> dict[str, Any]:
    """An image panel's `image` message, its build log included."""
    source, feed = _source(pipeline_id)
    return source.image_detail(feed, key)


def timeline(pipeline_id: str) -> dict[str, Any]:
    """The `timeline` message: every attempt in tree order."""
    _, feed = _source(pipeline_id)
    with feed.lock:
        return feed.timeline()
