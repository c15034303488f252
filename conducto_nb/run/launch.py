"""Starting pipelines: `root.start()`, `root.run()`, `await root.run_async()`, and `execute`,
which runs a tree in this process (a new run, or a stored one adoption.py takes over). Detached
runs start in detaching.py. The backend a run gets, by name, comes from backends/choice.py.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import os
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..backends.choice import backend_named, opened_backends
from ..errors import PipelineError
from ..model.nodes import Node
from ..model.serialize import tree_from_json
from .detaching import start_detached
from .event_trust import check_trust, link_delivery, secrets_home
from .loop import background_loop
from .ownership import WRITERS, TakenOver, ownership, shared_writer
from .record import Record
from .runs import (
    Run,
    close_shared_stores,
    hold,
    read_output_from_store,
    shared_store,
)
from .store_observer import stored

if TYPE_CHECKING:
    from ..backends.base import Backend
    from .runner import Restore

__all__ = ["EVENT_CHECKOUT_ENV", "ON_START", "execute", "run", "run_async", "start"]

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
    for writer in list(WRITERS.values()):
        with contextlib.suppress(PipelineError):
            writer.close(timeout=10)
    close_shared_stores()


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
    check_trust(tree)  # a webhook's untrusted run: before anything is made
    _event_image(tree)
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
            handle = start_detached(tree, pipeline_id, name, backend, work)
        else:
            handle = execute(
                tree, pipeline_id, name=name, backend=backend, workdir=work, persist=persist
            )
    except BaseException:
        if made:  # refused before anything ran: leave no work folder behind
            shutil.rmtree(work, ignore_errors=True)
        raise
    link_delivery(handle.id)  # started by a webhook delivery's command: say which
    for hook in list(ON_START):
        try:
            hook(root, handle)
        except Exception as e:  # the run has started: its handle must reach the caller
            warnings.warn(f"conducto_nb: an on-start hook failed: {e!r}", stacklevel=2)
    return handle


def _event_image(tree: Node) -> None:
    """A pipeline a git event's command starts (events/simulate.py) runs the event's code on
    every backend, as Conducto's did: unless its root names an image, the root gets the cfg
    section's image keys (JSON in $CONDUCTO_NB_DEFAULT_IMAGE) with `copy_repo` set to the
    event's checkout, pinned to its commit when the run starts."""
    checkout = os.environ.get(EVENT_CHECKOUT_ENV)
    if not checkout or not Path(checkout).is_dir() or "image" in tree.own_params:
        return  # (most runs: no event, and no events module to import)
    from ..events.cfg import IMAGE_ENV
    from ..images.image import Image

    try:
        keys = json.loads(os.environ.get(IMAGE_ENV) or "{}")
    except ValueError as e:
        raise PipelineError(f"${IMAGE_ENV} is not JSON: {e}") from None
    tree.set_param("image", Image.from_json({**keys, "copy_repo": checkout}))


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


def execute(
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
        if restore is not None:
            record.add_callbacks(restore.callbacks)  # before the Execution counts them
        ex = Execution(
            tree,
            pipeline_id=pipeline_id,
            backend=chosen,
            workdir=workdir.resolve(),
            record=record,
            writer=writer,
            secrets_home=secrets_home(home()),  # none for an untrusted event's run
            restore=restore,
        )
        await chosen.open()
        await ex.start_data(home())
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
