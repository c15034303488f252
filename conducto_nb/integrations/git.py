"""Conducto's `co.git`, self-hosted: `co.git.apply_status(root)` in a pipeline a git event
started reports each node's state as a GitHub commit status for the event's commit, with the
user's own token instead of Conducto's GitHub app (co.callback.github_status on every node).
Outside an event (no commit known) it does nothing, as Conducto's did."""

from __future__ import annotations

import os
import subprocess

from ..model import callbacks
from ..model.nodes import Node

__all__ = ["apply_status"]


def apply_status(parent: Node) -> None:
    """Set GitHub statuses for `parent` and every node under it. The repository is
    $CONDUCTO_GIT_URL, else the `origin` remote of the folder the script runs in; the commit
    $CONDUCTO_GIT_SHA, else the event's $CONDUCTO_SHA."""
    sha = os.environ.get("CONDUCTO_GIT_SHA") or os.environ.get("CONDUCTO_SHA")
    url = os.environ.get("CONDUCTO_GIT_URL") or _origin()
    if url and sha:
        parent.on_state_change(callbacks.github_status(url, sha, inherited=True))


def _origin() -> str | None:
    try:
        found = subprocess.run(
            ["git", "remote", "get-url", "origin"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return found.stdout.strip() or None if found.returncode == 0 else None
