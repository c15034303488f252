"""Detached runs: a pipeline recorded here and run by a process of its own
(`python -m conducto_nb.run.detached`), which outlives this one (a kernel restart, a closed
terminal). What can be checked is checked before detaching: an error afterwards would only
reach a log file.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..backends.choice import backend_named
from ..errors import PipelineError
from ..model.nodes import Node
from ..model.serialize import tree_from_json
from .loop import background_loop
from .ownership import ownership, shared_writer
from .record import Record
from .runs import Run, record_from_store

if TYPE_CHECKING:
    from ..backends.base import Backend

__all__ = ["spawn_detached", "start_detached"]


def start_detached(
    tree: Node, pipeline_id: str, name: str, backend: str | Backend | None, work: Path
) -> Run:
    """Record the pipeline, owned for now by this process as its launcher, and start a
    process that adopts it (conducto_nb.run.detached), runs it, and exits when it is idle."""
    from ..store.pipelines import home
    from .scheduler import Scheduler

    if backend is not None and not isinstance(backend, str):
        raise PipelineError("a detached run takes a backend by name (e.g. 'local')")
    chosen = backend or os.environ.get("CONDUCTO_NB_BACKEND", "local")
    data = tree.to_json()
    _check_before_detaching(data, pipeline_id, chosen, work)
    writer = shared_writer()
    launcher = ownership(home(), writer).owner()
    statuses = Scheduler(tree_from_json(data)).statuses()
    writer.create_pipeline(
        pipeline_id,
        name=name,
        tree=data,
        backend=chosen,
        owner=replace(launcher, control=None),
        statuses={p: (s.state.value, s.skipped) for p, s in statuses.items()},
    )
    writer.flush()
    spawn_detached(pipeline_id, ["--backend", chosen, "--workdir", str(work)])
    return Run(record_from_store(pipeline_id))


def _check_before_detaching(
    data: dict[str, Any], pipeline_id: str, backend: str, work: Path
) -> None:
    """What can be checked here is checked here (the backend answers, the images exist, the
    run args are allowed): an error after detaching would only reach a log file."""
    from ..store.pipelines import home
    from .runner import Execution

    chosen = backend_named(backend)

    async def check() -> None:
        await chosen.open()
        ex = Execution(
            tree_from_json(data),
            pipeline_id=pipeline_id,
            backend=chosen,
            workdir=work.resolve(),
            record=Record(pipeline_id, data, {}),
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
