"""What a debug session reproduces of one Exec of a run: the Job the runner would give its
next attempt (command, env with secrets, cpu, mem, image, requires_docker, docker_run_args,
co.data's address), the tag its co.Image was built to, the earlier steps of its NEW reuse
subtree, and the host folders its image's code came from (for live mode).

A run this process owns is read on the background loop, where its scheduler lives, with the
run's own JobMaker (its data service, its secrets). A run another process owns (or one
loaded from the store) gets a JobMaker of its own: the same env, but co.data's service is
its owner's, so CONDUCTO_DATA_URL is missing and the spec says so in `notes`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..backends.base import Job
from ..errors import PipelineError, TreeError
from ..images.image import Image
from ..model.execs import Exec
from ..model.nodes import Node
from ..run.jobs import JobMaker
from ..run.loop import background_loop
from ..run.runs import Run
from ..run.scheduler import Scheduler, StartExec

__all__ = ["NodeSpec", "node_spec"]

#: Env names whose values are masked when the env is printed, secrets or not.
_TOKENS = ("CONDUCTO_DATA_TOKEN",)


@dataclass
class NodeSpec:
    """One Exec of `run` as a debug session needs it."""

    run: Run
    path: str
    job: Job
    command: str  # the shell command, as the node holds it
    image_tag: str | None  # what a container runs (a built co.Image's tag), None: local
    earlier: list[Job] = field(default_factory=list)  # NEW reuse steps before it, in order
    secrets: set[str] = field(default_factory=set)  # values masked in whatever is printed
    code_dirs: dict[str, str] = field(default_factory=dict)  # host folder -> container path
    notes: list[str] = field(default_factory=list)  # what differs from a real attempt
    call: bytes | None = None  # a Python callable's pickled (function, args, kwargs)
    display: str = ""  # how the callable shows: `build_report('out.html')`

    @property
    def masked_env(self) -> dict[str, str]:
        """The job's env as it may be printed: secret values (and tokens) as `***`."""
        hidden = {
            key: "***" if key in _TOKENS or value in self.secrets else value
            for key, value in self.job.env.items()
        }
        return dict(sorted(hidden.items()))


def node_spec(run: Run, path: str, backend: Any = None) -> NodeSpec:
    """The spec of the Exec at `path` in `run`; a NodeNotFound naming what is there, or a
    TreeError / CommandError when it is not a shell Exec. `backend` is the run's own (a live
    run's), to find its built images."""
    path = "/" + path.strip("/") if path.strip("/") else "/"
    ex = run._execution
    if ex is not None:
        try:
            return background_loop().call(_spec, run, path, ex.scheduler, ex.jobs, True)
        except PipelineError as e:  # without the loop's frames: the message is what matters
            raise e.with_traceback(None) from None
    tree = run.tree
    jobs = JobMaker(run.id, _workdir(run.id), _home())
    return _spec(run, path, Scheduler(tree), jobs, False)


def _spec(run: Run, path: str, scheduler: Scheduler, jobs: JobMaker, live: bool) -> NodeSpec:
    node: Node = scheduler.root[path]  # NodeNotFound names what exists there
    if not isinstance(node, Exec):
        execs = [p for p, _, _ in scheduler.execs() if p.startswith(path.rstrip("/") + "/")]
        shown = ", ".join(execs[:6]) + (", …" if len(execs) > 6 else "")
        raise TreeError(
            f"is a {type(node).__name__}: %co_debug debugs one Exec"
            + (f" (below it: {shown})" if shown else ""),
            path=path,
        )
    by_path = {p: (n, g) for p, n, g in scheduler.execs()}
    group = by_path[path][1]
    attempt = scheduler.attempts(path) if live else _stored_attempts(run, path)
    job = jobs.job(StartExec(path, attempt, node, group))
    earlier = []
    if group is not None:  # the steps of its NEW subtree that run before it, in tree order
        for other, (sibling, g) in by_path.items():
            if other == path:
                break
            if g == group and not sibling.command_obj.is_call:
                earlier.append(jobs.job(StartExec(other, 0, sibling, group)))
    spec = NodeSpec(
        run, path, job, node.command_obj.shell or "", None, earlier, set(jobs.secret_values)
    )
    if node.command_obj.is_call:  # run as the backends run it: the pickled call, by boot.py
        spec.call, spec.display = node.command_obj.pickled(), node.command_obj.display
    if run.backend == "docker" or isinstance(job.image, Image):  # local: the built code's path
        spec.image_tag = _image_tag(run, path, job.image)
    if isinstance(job.image, Image):
        spec.code_dirs = dict(job.image.path_map or {})
    if not live and run.backend != "local":
        spec.notes.append(
            "co.data is served by the process that owns this run, not this one: "
            "$CONDUCTO_DATA_URL is not set"
        )
    return spec


def _image_tag(run: Run, path: str, image: Any) -> str:
    """The image a container of the node runs: the name given, or the tag its co.Image built
    to (an ActionError-like PipelineError when it has not been built yet)."""
    from ..backends.docker.backend import image_name

    if not isinstance(image, Image):
        return image_name(image)
    for built in run.images:
        if path in built.nodes and built.tag:
            return built.tag
    raise PipelineError(
        f"its co.Image {image.name!r} has not been built yet: run the pipeline first",
        path=path,
    )


def _stored_attempts(run: Run, path: str) -> int:
    attempts = run.record.attempts(path)
    return max((a.attempt for a in attempts), default=0)


def _home() -> Path:
    from ..store.pipelines import home

    return home()


def _workdir(pipeline_id: str) -> Path:
    return _home() / "work" / pipeline_id
