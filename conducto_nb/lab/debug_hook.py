""" "Debug node" from JupyterLab: a debug session of the node's exact container (the debug
magic's Python API, conducto_nb.debug, issue 18), and the shell line that enters it, which
the front end types into a new terminal. Without that package the endpoint says so (400).
"""

from __future__ import annotations

import importlib
from typing import Any

from ..errors import ActionError, NodeNotFound
from ..model.states import FAILED
from ..run.runs import load

__all__ = ["start"]


def start(pipeline_id: str, path: str) -> dict[str, Any]:
    """Start a debug session of the Exec at `path`; what enters it, and where it is."""
    run = load(pipeline_id)
    if path not in run.record.statuses():
        raise NodeNotFound(f"pipeline {pipeline_id} has no node {path}")
    try:
        # lazy and by name: the debug package lands beside run/ (issue 18); until it does,
        # the endpoint answers with why, and the rest of the extension works
        debug = importlib.import_module("conducto_nb.debug")
    except ImportError:
        raise ActionError(
            "debugging a node needs conducto_nb.debug (the %co_debug magic), "
            "which this installation lacks"
        ) from None
    # As the widget's debug button: a failed node's command runs there first, and the session
    # is kept as it left it, so the terminal opens on the failure.
    failed = run.record.status(path).state in FAILED
    session = debug.debug(run, path, failed=failed, echo=False)
    out = {"path": path, "where": str(session.where), "entering": str(session.entering())}
    if failed and getattr(session, "last", None) is not None:
        out["note"] = f"its command ran there and exited {session.last.exit_code}"
    return out
