"""Taking over a stored pipeline whose owner died, so an action on it (rerun...) proceeds in
this process: `adopt` waits until the dead owner's jobs are gone (its guard ends them:
backends/guard.py) and restores the run's statuses, attempts and images; `act_elsewhere` sends
an action to a live owner's control socket, or adopts.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ..errors import ActionError
from ..model.serialize import tree_from_json
from .control import NotOwner, request
from .launch import execute
from .ownership import TakenOver
from .runs import Run, shared_store
from .store_observer import loaded, loaded_attempts

if TYPE_CHECKING:
    from pathlib import Path

    from ..store.lease import Owner

__all__ = ["OLD_JOBS_TIMEOUT", "act_elsewhere", "adopt"]


def adopt(
    pipeline_id: str,
    *,
    backend: str | None = None,
    workdir: Path | None = None,
    force: bool = False,
) -> Run:
    """Become the owner of a stored pipeline whose owner is gone (`force`: whatever it is)."""
    from ..store.pipelines import home
    from .runner import Restore

    store = shared_store()
    store.mark_interrupted(pipeline_id)
    rec = store.load(pipeline_id)
    if rec.owner_alive and rec.owner is not None and not force:
        raise TakenOver(pipeline_id, rec.owner.pid)
    if rec.owner is not None and not force:
        _wait_for_old_jobs(pipeline_id, rec.owner)
    attempts = loaded_attempts(rec.attempts)
    restore = Restore(
        statuses=loaded(rec.statuses, rec.blocked),
        attempts={p: max((a.attempt for a in atts), default=0) for p, atts in rec.attempts.items()},
        attempt_list=attempts,
        images=store.images(pipeline_id)[0],
        callbacks=store.callbacks(pipeline_id),
    )
    work = workdir or home() / "work" / pipeline_id
    work.mkdir(parents=True, exist_ok=True)
    return execute(
        tree_from_json(rec.tree),
        pipeline_id,
        name=rec.name,
        backend=backend or rec.backend,
        workdir=work,
        persist=True,
        restore=restore,
        force=force,
    )


#: Seconds an adopter waits for a dead owner's guard to end that owner's jobs.
OLD_JOBS_TIMEOUT = 60.0


def _wait_for_old_jobs(pipeline_id: str, owner: Owner) -> None:
    """Before a new attempt starts, every job of the dead owner is gone (its guard ends them:
    backends/guard.py); an owner that still exists is hung, not dead, and keeps its jobs."""
    from ..backends import guard
    from ..store.lease import boot_id, pid_alive

    if owner.boot_id != boot_id():
        return  # the machine rebooted since: nothing of that owner runs
    if pid_alive(owner.pid, owner.heartbeat):
        idle = time.time() - owner.heartbeat
        raise ActionError(
            f"pipeline {pipeline_id}: its owner, process {owner.pid}, has not renewed its lease "
            f"for {idle:.0f}s but still exists (stopped or hung?), and its jobs may still run; "
            f"end it (kill {owner.pid}) and try again"
        )
    if not guard.wait_for_guard(owner.pid, OLD_JOBS_TIMEOUT):
        raise ActionError(
            f"pipeline {pipeline_id}: the jobs of its dead owner (process {owner.pid}) were "
            f"still being stopped after {OLD_JOBS_TIMEOUT:.0f}s; try again in a moment"
        )


def act_elsewhere(
    pipeline_id: str, action: str, path: str, args: dict[str, Any] | None = None
) -> Run | None:
    """Send `action` to the live owner of a pipeline (None), or adopt the pipeline when its
    owner died and return the live Run for the caller to act on."""
    store = shared_store()
    deadline = time.monotonic() + 15
    while True:
        rec = store.load(pipeline_id)
        if not rec.owner_alive or rec.owner is None:
            if action in ("stop", "kill"):
                return None  # nothing runs: the owner is gone
            try:
                return adopt(pipeline_id)
            except TakenOver:  # another process adopted it first: ask that one
                continue
        if rec.owner.control:
            try:
                request(rec.owner.control, pipeline_id, action, path, args=args)
            except NotOwner:  # it let the run go a moment ago: its lease is being released
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
                continue
            return None
        if time.monotonic() > deadline:  # a detached run that never came up
            raise ActionError(
                f"pipeline {pipeline_id}: its process {rec.owner.pid} does not "
                "answer on a control socket"
            )
        time.sleep(0.1)
