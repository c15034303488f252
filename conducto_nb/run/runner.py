"""Runs a pipeline: feeds the pure scheduler core events and carries out its instructions on a
backend, on the process's background loop (loop.py). Observers (the in-memory record, the
store (store_observer.py), the widget, the terminal view) receive every state change, tree
change and output chunk; an attempt's output reaches them through attempt_output.py's sink.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..backends.base import Backend, Job, Outcome
from ..errors import ActionError, NodeNotFound, PipelineError
from ..model.execs import Command, Exec
from ..model.nodes import Node
from ..model.states import (
    ACTIVE,
    FAILED,
    AttemptEnded,
    AttemptStarted,
    CallbackFired,
    ImageChanged,
    NodeStatus,
    State,
    TreeChanged,
)
from ..notebook.kept import is_result, keep
from .attempt_output import OutputCollector, generated_tree
from .callbacks import CallbackRunner
from .image_builds import ImageBuilds
from .jobs import JobMaker
from .record import Record
from .scheduler import (
    Action,
    Event,
    ExecFinished,
    ExecStarted,
    Instruction,
    KillExec,
    Rejected,
    Scheduler,
    StartExec,
)
from .store_observer import StoreObserver

if TYPE_CHECKING:
    from ..store.writer import StoreWriter
    from .record import Attempt

__all__ = ["Execution"]


Observer = Callable[[object], None]


@dataclass(frozen=True)
class Restore:
    """A stored run's state, for an Execution that takes it over: statuses, the last attempt
    number per Exec (new attempts continue from it), the attempts themselves, its images and
    the callbacks that fired (a retry's count goes on from them)."""

    statuses: Mapping[str, NodeStatus]
    attempts: Mapping[str, int]
    attempt_list: list[Attempt]
    images: list[ImageChanged] = field(default_factory=list)  # with the tags they built to
    callbacks: list[CallbackFired] = field(default_factory=list)  # what they did, in order


class Execution:
    """One pipeline run by this process. Lives on the background loop: every method but
    `__init__` is called on the loop thread."""

    def __init__(
        self,
        tree: Node,
        *,
        pipeline_id: str,
        backend: Backend,
        workdir: Path,
        record: Record,
        writer: StoreWriter | None,
        secrets_home: Path | None,
        restore: Restore | None = None,
    ) -> None:
        self.id = pipeline_id
        self.scheduler = Scheduler(tree)
        if restore is not None:
            self.scheduler.restore(restore.statuses, restore.attempts)
        self.backend = backend
        self.workdir = workdir
        self.record = record
        self.writer = writer
        self.jobs = JobMaker(pipeline_id, workdir, secrets_home)  # what each attempt is given
        self.secret_values = self.jobs.secret_values  # masked in every output
        self.observers: list[Observer] = [record.observe]
        if writer is not None:
            self.observers.append(StoreObserver(pipeline_id, writer, self.scheduler))
        self.callbacks = CallbackRunner(self)  # the nodes' on_done, on_error...
        self.observers.append(self.callbacks)
        self.images = ImageBuilds(backend, self._publish)
        if restore is not None:
            self.images.recall(restore.images)  # the run's own images, not rebuilt ones
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self._chores: set[asyncio.Task[None]] = set()
        #: `hook(idle)` on the loop when the run goes idle (True) or wakes (False).
        self.on_idle: list[Callable[[bool], None]] = []
        record.set_idle(True)

    # -- events in --------------------------------------------------------------------------
    def handle(self, event: Event) -> list[Rejected]:
        was_idle = self.record.idle
        instructions = self.scheduler.handle(event)
        rejected = self._carry_out(instructions)
        self.callbacks.fire_pending()  # after the step: a retry acts as a user would
        self.refresh_idle(was_idle)
        return rejected

    def refresh_idle(self, was_idle: bool | None = None) -> None:
        """The run is idle when nothing runs, nothing waits and no callback is still being
        carried out (a notification in flight): wait() returns only then."""
        was_idle = self.record.idle if was_idle is None else was_idle
        idle = self.scheduler.idle and not self.callbacks.busy
        self.record.set_idle(idle)
        if idle and not was_idle:  # let the backend free containers until the next action
            self._background(self.backend.release(self.id))
        if idle != was_idle:
            for hook in self.on_idle:
                hook(idle)

    def _background(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run `coro` without waiting for it, keeping a reference until it is done."""
        task = asyncio.get_running_loop().create_task(coro)
        self._chores.add(task)
        task.add_done_callback(self._chores.discard)

    def job_specs(self, under: str = "/") -> list[Job]:
        """One Job per Exec (of the subtree at `under`), without env: for `Backend.prepare`
        and the image builds."""
        inside = "/" if under == "/" else under + "/"
        return [
            self.jobs.job(StartExec(path, 0, node, group), resolve_env=False)
            for path, node, group in self.scheduler.execs()
            if path == under or path.startswith(inside)
        ]

    async def start_data(self, home: Path | None) -> None:
        """Start this process's data service (once; on this loop) and give the pipeline's
        jobs its address and the pipeline's token, as the backend's jobs reach it."""
        from ..data.service import data_service  # aiohttp: only where runs are owned

        service = await data_service(home)
        if self.backend.data_bind:
            # Not this machine's address (a daemon in a VM): the run goes on, its jobs may
            # still reach the service through host-gateway.
            with contextlib.suppress(OSError):
                await service.listen_also(self.backend.data_bind)
        self.jobs.data_env = service.env(self.id, self.backend.data_host)

    def begin(self, jobs: list[Job]) -> None:
        """Start building the co.Images that `jobs` (every Exec's, as `prepare` had them)
        need, publishing them; running is up to the actions that follow."""
        self.images.plan(jobs)
        self.images.start()

    def act(self, name: str, path: str = "/") -> None:
        """A user's action; raises ActionError when the core rejects it."""
        if name == "rebuild_images":
            self.images.rebuild()
            return
        if name in ("run", "rerun", "reset"):
            self.images.retry_failed()
        rejected = self.handle(Action(name, path))
        if rejected:
            raise ActionError(rejected[0].reason, path=rejected[0].action.path)

    def modify(
        self, path: str, command: str | None = None, env: Mapping[str, Any] | None = None
    ) -> None:
        """Give the Exec at `path` a new shell command and/or own env, then reset and run it
        (a failed one is rerun: what its failure held back resumes after it). Both are checked
        before either changes; the stored tree follows."""
        try:
            node: Node | None = self.scheduler.root[path]
        except NodeNotFound:
            node = None
        if not isinstance(node, Exec):
            raise ActionError(f"no Exec at `{path}`", path=path)
        if self.scheduler.status(path).state in ACTIVE:
            raise ActionError(f"{path} is running; kill it first", path=path)
        new_command = None
        if command is not None:
            if node.command_obj.is_call:
                raise ActionError("a Python callable cannot be edited as text", path=path)
            if not command.strip():
                raise ActionError("the command is empty", path=path)
            if "\0" in command:
                raise ActionError("the command contains a NUL byte (\\0)", path=path)
            new_command = Command.of_shell(command)
        if env is not None:
            node.set_param("env", dict(env))  # raises ParameterError, naming the node
        if new_command is not None:
            node.command_obj = new_command
        if self.writer is not None:
            self.writer.set_tree(self.id, self.scheduler.root.to_json())
        if self.scheduler.status(path).state in FAILED:
            self.act("rerun", path)  # the fix of a failure: what it held back goes on after
        else:
            self.act("reset", path)
            self.act("run", path)

    def set_param(self, path: str, name: str, value: Any) -> None:
        """Set a parameter of the node at `path` in the running tree (a callback's more
        memory); the stored tree follows."""
        self.scheduler.root[path].set_param(name, value)
        if self.writer is not None:
            self.writer.set_tree(self.id, self.scheduler.root.to_json())

    def _carry_out(self, instructions: list[Instruction]) -> list[Rejected]:
        rejected = []
        for ins in instructions:
            if isinstance(ins, StartExec):
                task = asyncio.get_running_loop().create_task(self._run_job(ins))
                self.tasks[ins.path] = task
            elif isinstance(ins, KillExec):
                running = self.tasks.get(ins.path)
                if running is not None and not running.done():
                    running.cancel("killed")
            elif isinstance(ins, Rejected):
                rejected.append(ins)
            else:
                self._publish(ins)
                if isinstance(ins, TreeChanged):  # a generated subtree may use new images
                    self.images.plan(self.job_specs(ins.path))
                    self.images.start()
        return rejected

    def _publish(self, event: object) -> None:
        for observer in self.observers:
            observer(event)

    # -- one attempt of one Exec ------------------------------------------------------------
    async def _run_job(self, ins: StartExec) -> None:
        """One attempt from start to ExecFinished; whatever goes wrong becomes its outcome."""
        path, attempt = ins.path, ins.attempt
        queued = time.time()
        out = OutputCollector(
            self._publish, self.secret_values, path, attempt, keep_stdout=ins.node.generates
        )
        try:
            outcome = await self._attempt(ins, out, queued)
        except asyncio.CancelledError:
            asyncio.current_task().uncancel()  # type: ignore[union-attr]
            outcome = Outcome(State.KILLED, message="killed")
        except PipelineError as e:  # bad input found only at run time (a missing secret)
            outcome = Outcome(State.ERROR, message=str(e))
        except Exception as e:  # a backend bug must not stop the pipeline
            outcome = Outcome(State.WORKER_ERROR, message=f"backend failed: {e!r}")
        result = None
        if ins.node.generates and outcome.state is State.DONE:
            result, problem = generated_tree(outcome.result, out.stdout_text())
            if problem:
                outcome = Outcome(State.ERROR, outcome.exit_code, problem)
        if outcome.state is State.DONE and is_result(outcome.result):
            outcome = self._notebook_outcome(path, outcome)
        out.flush()
        if outcome.message:
            out("stderr", f"\n[conducto_nb] {outcome.message}\n")
            out.flush()
        returned = (
            outcome.result if outcome.state is State.DONE and not ins.node.generates else None
        )
        ended = AttemptEnded(
            path,
            attempt,
            outcome.state.value,
            outcome.exit_code,
            time.time(),
            outcome.message,
            result=None if returned is None else short_repr(returned),
            value=returned,
        )
        self._publish(ended)
        if self.tasks.get(path) is asyncio.current_task():
            del self.tasks[path]
        self.handle(ExecFinished(path, attempt, outcome.state, result))

    def _notebook_outcome(self, path: str, outcome: Outcome) -> Outcome:
        """A Notebook node's: its executed notebook kept in co.data as its result; a cell that
        raised fails it, with the cell and the exception as its message."""
        try:
            executed, error = keep(self.id, path, outcome.result)
        except (PipelineError, OSError) as e:
            return Outcome(State.ERROR, outcome.exit_code, f"cannot keep the notebook: {e}")
        if error is not None:
            return Outcome(State.ERROR, 1, error)
        return Outcome(State.DONE, outcome.exit_code, outcome.message, executed)

    async def _attempt(self, ins: StartExec, out: OutputCollector, queued: float) -> Outcome:
        job = self.jobs.job(ins)
        self.jobs.note_image(job, self.backend.name, self.backend.honours, out)
        await self.images.ready(job)  # queued while its co.Image builds; ImageBuildError

        def started() -> None:
            self._publish(AttemptStarted(ins.path, ins.attempt, time.time(), queued))
            self.handle(ExecStarted(ins.path, ins.attempt))

        try:
            async with asyncio.timeout(job.max_time):
                return await self.backend.run(job, out, started)
        except TimeoutError:
            return Outcome(
                State.ERROR, message=f"timed out after {_human(job.max_time)} (max_time)"
            )

    async def stop(self) -> None:
        """Kill everything and wait until the kills are recorded."""
        if self.tasks:
            self.handle(Action("kill", "/"))
            await asyncio.gather(*self.tasks.values(), return_exceptions=True)


def _human(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:g}s"
    if seconds < 7200:
        return f"{seconds / 60:g}m"
    return f"{seconds / 3600:g}h"


def short_repr(value: object, limit: int = 1000) -> str:
    """What a callable returned, as the panel, the store and the CLI show it."""
    try:
        text = repr(value)
    except Exception as e:  # a broken __repr__ must not fail the node
        text = f"<unrepresentable {type(value).__name__}: {e}>"
    return text if len(text) <= limit else text[: limit - 1] + "…"
