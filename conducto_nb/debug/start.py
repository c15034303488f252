"""`debug(run, path)`: the one Python API behind `%co_debug`, `%%co_debug` and the widget's
debug button. It finds the run (the last one started or shown, by default), starts the node's
session where the run runs (a container on Docker, a shell environment locally), says what
it is and how to enter it, replays the earlier steps of a NEW reuse subtree, and with
`failed` runs the command and keeps the session as the command left it.

Every session of this process is stopped when it exits (`atexit`; the backend's guard
removes containers even when it is killed).
"""

from __future__ import annotations

import atexit
import contextlib

from ..errors import CommandError, PipelineError
from ..model.states import FAILED
from ..run.runs import Run, last_run, load
from .session import OPEN, DebugSession
from .spec import node_spec

__all__ = ["debug", "find_run", "panel_debug", "stop_all"]


def find_run(run: Run | str | None) -> Run:
    """`run` itself, the run of a pipeline id, or (None) the run last started or shown here;
    a PipelineError saying which is missing."""
    if isinstance(run, Run):
        return run
    if run is not None:
        return load(run)  # PipelineNotFound names the id
    found = last_run()
    if found is None:
        raise PipelineError(
            "no pipeline has been started or shown in this kernel yet: start one "
            "(`run = root.start()`), or name one: %co_debug PIPELINE_ID PATH"
        )
    return found


def debug(
    run: Run | str | None,
    path: str,
    *,
    failed: bool = False,
    live: bool = False,
    command: str | None = None,
    echo: bool = True,
) -> DebugSession:
    """A debug session of the Exec at `path` of `run` (see `find_run`): with `command`, that
    command instead of the node's; with `failed`, the command run and the session kept as it
    left it; with `live`, the host's copy of the image's code mounted read-write."""
    from .container import start_container
    from .local import start_local

    found = find_run(run)
    spec = node_spec(found, path)
    if command is not None and spec.call is not None:
        raise CommandError(
            "is a Python callable: %%co_debug would run a shell command in its place, which "
            "apply() cannot write back; debug it with %co_debug PATH and .run()",
            path=spec.path,
        )
    start = start_container if found.backend == "docker" else start_local
    session = start(spec, live=live)
    try:
        if command is not None:  # the node keeps its own until `apply()`
            session.set_command(command)
        say = print if echo else _quiet
        say(describe(session, live))
        if spec.earlier:
            paths = ", ".join(job.path for job in spec.earlier)
            say(
                f"replaying what runs before {spec.path} in its NEW reuse subtree "
                f"(container_reuse_context=NEW), so the state it built is here: {paths}"
            )
            for step, ran in session.replay(echo=echo):
                if not ran.ok:
                    say(f"{step} exited {ran.exit_code}")
        if failed:
            ran = session.run(echo=False)
            say(f"{spec.path} exited {ran.exit_code}; its last lines:\n{ran.tail()}")
            say(f"kept as the command left it: {session.entering()}")
    except BaseException:
        session.stop()
        raise
    return session


def panel_debug(run: Run, path: str) -> str:
    """The graph panel's debug button: a session of the node (of a failed one: its command
    run there and kept as it left it), and the line that enters it, to copy."""
    failed = run.record.status(path).state in FAILED
    session = debug(run, path, failed=failed, echo=False)
    text = f"debug {session.where}: {session.entering()}"
    if failed and session.last is not None:
        text += f"  (its command ran there and exited {session.last.exit_code})"
    return text


def describe(session: DebugSession, live: bool = False) -> str:
    """What the session is, the node's env (secrets masked), and how to enter it."""
    spec = session.spec
    job = spec.job
    if spec.run.backend == "docker":
        head = (
            f"debug {session.where} for {spec.path} of pipeline {spec.run.id}: image "
            f"{spec.image_tag}, cpu {job.cpu:g}, mem {job.mem:g} GB"
            + (", the Docker socket" if job.requires_docker else "")
        )
    else:
        head = (
            f"a local shell environment for {spec.path} of pipeline {spec.run.id} (the "
            "local backend runs no containers): the node's env, in "
            + str(getattr(session, "cwd", job.cwd))
        )
    shown = (
        f"{spec.display}  (a Python callable, run as the backend runs it)"
        if session.calls
        else session.command
    )
    lines = [head]
    if live:
        lines += [
            f"live: {outside} is mounted at {inside}" for outside, inside in spec.code_dirs.items()
        ]
    lines += ["env:", *(f"  {k}={v}" for k, v in spec.masked_env.items())]
    lines += [f"note: {note}" for note in spec.notes]
    lines += [
        f"command, in {session.script_path}:",
        *(f"  {line}" for line in shown.rstrip("\n").split("\n")),
        f"enter it:  {session.entering()}",
        f"run the command there:  sh {session.script_path}   (here: .run())",
    ]
    return "\n".join(lines)


def _quiet(*_: object) -> None:
    pass


@atexit.register
def stop_all() -> None:
    """Stop every session of this process (at exit: its kernel shuts down)."""
    for session in list(OPEN):
        with contextlib.suppress(Exception):
            session.stop()
