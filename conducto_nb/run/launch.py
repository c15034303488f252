"""Starting pipelines: `root.start()`, `root.run()`, `await root.run_async()`, detached runs
in a process of their own, and adopting a stored pipeline whose owner died so an action on it
(rerun...) can proceed here. The backend a run gets, by name, comes from backends/choice.py.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import shutil
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..backends.choice import backend_named, opened_backends
from ..errors import ActionError, PipelineError
from ..model.nodes import Node
from ..model.serialize import tree_from_json
from .control import NotOwner, request
from .loop import background_loop
from .ownership import ownership
from .record import Record
from .runs import (
    Run,
    close_shared_stores,
    hold,
    read_output_from_store,
    record_from_store,
    shared_store,
)
from .store_observer import loaded, loaded_attempts, stored

if TYPE_CHECKING:
    from ..backends.base import Backend
    from ..store.lease import Owner
    from ..store.writer import StoreWriter
    from .runner import Restore

__all__ = [
    "ON_START",
    "TakenOver",
    "act_elsewhere",
    "adopt",
    "run",
    "run_async",
    "spawn_detached",
    "start",
]

#: `hook(root, run)` after each successful `start(root)`, `root` the very object passed in: the
#: widget registers one when it is imported, so graphs of `root` follow runs started anywhere.
ON_START: list[Callable[[Node, Run], None]] = []


@atexit.register
def _close_at_exit() -> None:
    """Stop workers and remove containers when the process exits, rather than after their idle
    timeout; then commit what is queued for the store and close it (the WAL folded in)."""
    for backend in opened_backends():
        with contextlib.suppress(Exception):
            background_loop().submit(backend.close()).result(timeout=15)
    for writer in list(_WRITERS.values()):
        with contextlib.suppress(PipelineError):
            writer.close(timeout=10)
    close_shared_stores()


class TakenOver(ActionError):
    """Another process adopted the pipeline first: act through it instead."""

    def __init__(self, pipeline_id: str, pid: int) -> None:
        super().__init__(f"pipeline {pipeline_id} was just taken over by process {pid}")


def start(
    root: Node,
    *,
    backend: str | Backend | None = None,
    workdir: str | Path | None = None,
    name: str | None = None,
    detach: bool = False,
    persist: bool = True,
) -> Run:
    """Start running `root` in the background and return its Run at once. With `detach`, it
    runs in a process of its own that outlives this one (a kernel restart, a closed terminal)."""
    from ..store.pipelines import home, new_pipeline_id

    tree = tree_from_json(root.to_json())  # the run's own copy: later edits do not race it
    _pin_images(tree)
    pipeline_id = new_pipeline_id()
    work = Path(workdir) if workdir else home() / "work" / pipeline_id
    made = not work.exists()
    work.mkdir(parents=True, exist_ok=True)
    checkout = os.environ.get(EVENT_CHECKOUT_ENV)
    if made and checkout and Path(checkout).is_dir():
        # a git event's checkout, removed when its command ends: the run keeps a copy of its
        # own, so a rerun later finds the same files
        shutil.copytree(checkout, work, symlinks=True, dirs_exist_ok=True, ignore=_GIT)
    name = name or root.title or "pipeline"
    try:
        if detach:
            handle = _start_detached(tree, pipeline_id, name, backend, work)
        else:
            handle = _execute(
                tree, pipeline_id, name=name, backend=backend, workdir=work, persist=persist
            )
    except BaseException:
        if made:  # refused before anything ran: leave no work folder behind
            shutil.rmtree(work, ignore_errors=True)
        raise
    for hook in list(ON_START):
        try:
            hook(root, handle)
        except Exception as e:  # the run has started: its handle must reach the caller
            warnings.warn(f"conducto_nb: an on-start hook failed: {e!r}", stacklevel=2)
    return handle


def _pin_images(tree: Node) -> None:
    """Every co.Image that copies git code copies the commit it names now, in this run and
    every rerun of it (images/pin.py); uncommitted changes left out are said once."""
    from ..images.image import Image
    from ..images.pin import pin

    pinned: dict[Image, Image] = {}
    for node in tree.walk():
        image = node.own_params.get("image")
        if not isinstance(image, Image):
            continue
        if image not in pinned:
            pinned[image], note = pin(image)
            if note is not None:
                warnings.warn(note, stacklevel=4)
        node.set_param("image", pinned[image])


#: Set by git event simulation (events/simulate.py): the checkout of the event's commit, which
#: a pipeline's work folder starts as a copy of.
EVENT_CHECKOUT_ENV = "CONDUCTO_NB_WORKDIR"
_GIT = shutil.ignore_patterns(".git")


def run(root: Node, **kwargs: Any) -> Run:
    """Run `root` to the end, blocking; Ctrl-C (a kernel interrupt) kills it cleanly."""
    return start(root, **kwargs).wait()


async def run_async(root: Node, **kwargs: Any) -> Run:
    """`await root.run_async()`: run to the end without blocking the caller's event loop."""
    handle = await asyncio.to_thread(start, root, **kwargs)
    await asyncio.to_thread(handle.wait)
    return handle


def _execute(
    tree: Node,
    pipeline_id: str,
    *,
    name: str,
    backend: str | Backend | None,
    workdir: Path,
    persist: bool,
    restore: Restore | None = None,
    force: bool = False,
) -> Run:
    """Run `tree` in this process; `restore` carries a stored run's statuses and attempts
    (TakenOver if another process adopted it first, unless `force`)."""
    from ..store.pipelines import home
    from .runner import Execution

    chosen = backend_named(backend)
    writer = shared_writer() if persist else None
    own = ownership(home(), writer) if writer is not None else None

    async def create() -> Run:
        record = Record(pipeline_id, tree.to_json(), {})
        ex = Execution(
            tree,
            pipeline_id=pipeline_id,
            backend=chosen,
            workdir=workdir.resolve(),
            record=record,
            writer=writer,
            secrets_home=home(),
            restore=restore,
        )
        await chosen.open()
        jobs = ex.job_specs()
        await chosen.prepare(pipeline_id, jobs)  # bad images etc.: before anything
        statuses = ex.scheduler.statuses()
        record.replace_statuses(statuses)
        if restore is not None:
            record.add_attempts(restore.attempt_list)
            read_output_from_store(record)
        if writer is not None and own is not None:
            rows = {p: (s.state.value, s.skipped) for p, s in statuses.items()}
            if restore is None:
                writer.create_pipeline(
                    pipeline_id,
                    name=name,
                    tree=record.tree,
                    backend=chosen.name,
                    owner=own.owner(),
                    statuses=rows,
                )
            else:
                # Claimed and registered in one step of the loop: a control request that
                # follows the claim finds the execution here.
                holder = shared_store().claim(pipeline_id, own.owner(), force=force)
                if holder is not None:
                    raise TakenOver(pipeline_id, holder.pid)
                writer.set_statuses(pipeline_id, [stored(p, s) for p, s in statuses.items()])
            own.register(ex)
        hold(ex)
        ex.begin(jobs)
        if restore is None:
            ex.act("run", "/")
        return Run(record, ex)

    return background_loop().submit(create()).result()


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
    )
    work = workdir or home() / "work" / pipeline_id
    work.mkdir(parents=True, exist_ok=True)
    return _execute(
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


def _start_detached(
    tree: Node, pipeline_id: str, name: str, backend: str | Backend | None, work: Path
) -> Run:
    """Record the pipeline, owned for now by this process as its launcher, and start a
    process that adopts it (conducto_nb.run.detached), runs it, and exits when it is idle."""
    from ..store.pipelines import home
    from .scheduler import Scheduler

    if backend is not None and not isinstance(backend, str):
        raise PipelineError("a detached run takes a backend by name (e.g. 'local')")
    chosen = backend or os.environ.get("CONDUCTO_NB_BACKEND", "local")
    _check_before_detaching(tree, pipeline_id, chosen, work)
    writer = shared_writer()
    launcher = ownership(home(), writer).owner()
    statuses = Scheduler(tree_from_json(tree.to_json())).statuses()
    writer.create_pipeline(
        pipeline_id,
        name=name,
        tree=tree.to_json(),
        backend=chosen,
        owner=replace(launcher, control=None),
        statuses={p: (s.state.value, s.skipped) for p, s in statuses.items()},
    )
    writer.flush()
    spawn_detached(pipeline_id, ["--backend", chosen, "--workdir", str(work)])
    return Run(record_from_store(pipeline_id))


def _check_before_detaching(tree: Node, pipeline_id: str, backend: str, work: Path) -> None:
    """What can be checked here is checked here (the backend answers, the images exist, the
    run args are allowed): an error after detaching would only reach a log file."""
    from ..store.pipelines import home
    from .runner import Execution

    chosen = backend_named(backend)

    async def check() -> None:
        await chosen.open()
        ex = Execution(
            tree_from_json(tree.to_json()),
            pipeline_id=pipeline_id,
            backend=chosen,
            workdir=work.resolve(),
            record=Record(pipeline_id, tree.to_json(), {}),
            writer=None,
            secrets_home=home(),
        )
        await chosen.prepare(pipeline_id, ex.job_specs())

    background_loop().submit(check()).result()


def spawn_detached(pipeline_id: str, args: list[str]) -> int:
    """Start `python -m conducto_nb.run.detached ID ARGS` in a session of its own, its output
    in a log file beside the pipeline's work folder; returns its pid."""
    from ..store.pipelines import home

    work = home() / "work"
    work.mkdir(parents=True, exist_ok=True)
    log = open(work / f"{pipeline_id}.log", "ab")  # noqa: SIM115 - handed to the child
    with log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "conducto_nb.run.detached", pipeline_id, *args],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "CONDUCTO_NB_HOME": str(home())},
        )
    threading.Thread(target=proc.wait, name=f"conducto_nb-reap-{proc.pid}", daemon=True).start()
    return proc.pid


_WRITERS: dict[Path, StoreWriter] = {}


def shared_writer() -> StoreWriter:
    """This process's batching writer to the store at `home()`."""
    from ..store.pipelines import home
    from ..store.writer import StoreWriter

    path = home()
    if path not in _WRITERS:
        _WRITERS[path] = StoreWriter(shared_store())
    return _WRITERS[path]
