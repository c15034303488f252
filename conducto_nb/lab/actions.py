"""The panel's and the palette's actions on a pipeline, carried out as the CLI carries them
out (`conducto-nb rerun --detach`, `conducto-nb kill`): through the owner's control channel
while it lives; when it died, a detached background process adopts the pipeline, so the
Jupyter server never becomes a pipeline's owner (a restarted server would kill its runs).
"""

from __future__ import annotations

from typing import Any

from ..errors import ActionError, NodeNotFound
from ..run.detaching import spawn_detached
from ..run.runs import load, shared_store
from ..widget.run_sources import RUN_ACTIONS, StoreSource

__all__ = ["ACTIONS", "act"]

#: What a panel offers (as the widget does) and "stop", the palette's "stop a pipeline".
ACTIONS = [*RUN_ACTIONS, "stop"]


def act(pipeline_id: str, action: str, path: str, args: dict[str, Any]) -> dict[str, Any]:
    """Carry out `action` on the node at `path`; the `acted` message the panel shows. Bad
    input raises (ActionError, NodeNotFound, PipelineNotFound): the handler answers 400/404."""
    if action not in ACTIONS:
        raise ActionError(f"unknown action `{action}`: one of {', '.join(ACTIONS)}")
    run = load(pipeline_id)
    if path not in run.record.statuses():
        raise NodeNotFound(f"pipeline {pipeline_id} has no node {path}")
    if action == "stop":
        action, path = "kill", "/"
    acted: dict[str, Any] = {"type": "acted", "action": action, "path": path, "ok": True}
    rec = shared_store().load(pipeline_id)
    if not rec.owner_alive and not run.owned_here:
        if action == "kill":
            acted["note"] = "nothing runs: its owner is gone"
            return acted
        if action == "modify":
            raise ActionError(
                f"pipeline {pipeline_id}: its owner is gone; rerun it first, then modify"
            )
        pid = spawn_detached(pipeline_id, ["--action", action, "--path", path])
        acted["note"] = f"its owner had died: process {pid} adopts it and runs it"
        return acted
    StoreSource(run).act(action, path, args)
    return acted
