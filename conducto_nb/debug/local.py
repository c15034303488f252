"""The local backend's debug session: no container, a shell environment instead. Commands run
as the local backend runs them (`/bin/sh -c`, a session of their own) with the node's env,
in its working directory: the pipeline's work folder, or the run's copy of its co.Image's
code (with the image's venv first on PATH). With `live`, in the host's folder of that code
itself, so edits are the host's. The command and the env live in a folder of their own
under $CONDUCTO_NB_HOME/debug (env.sh is readable by this user only: it holds secrets).
"""

from __future__ import annotations

import base64
import contextlib
import os
import select
import shlex
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from ..backends import guard
from ..backends.local.code import code_copy, job_env
from ..data import COMMANDS
from ..errors import PipelineError
from ..images.image import Image
from ..images.paths import expand_locally
from ..store.pipelines import home
from .session import CALL_MARK, DebugSession, Ran
from .spec import NodeSpec

__all__ = ["LocalSession", "start_local"]


class LocalSession(DebugSession):
    """A debug session in a subprocess shell with the node's env and working directory."""

    where = "a local shell"

    def __init__(self, spec: NodeSpec, folder: Path, cwd: Path, env: dict[str, str]) -> None:
        super().__init__(spec)
        self.folder, self.cwd, self.env = folder, cwd, env
        self._groups: set[int] = set()

    @property
    def script_path(self) -> str:
        return str(self.folder / "cmd.sh")

    def entering(self) -> str:
        return (
            f"sh -c {shlex.quote('. ' + shlex.quote(str(self.folder / 'env.sh')) + ' && exec sh')}"
        )

    def _execute(self, command: str, echo: bool) -> Ran:
        if self.stopped:
            raise PipelineError("the debug session was stopped", path=self.path)
        printer = self._printer(echo)
        env = {**os.environ, **self.env}
        try:
            child = subprocess.Popen(
                ["/bin/sh", "-c", command],
                cwd=self.cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as e:  # its folder went away...
            raise PipelineError(
                f"cannot start a shell in {self.cwd}: {e}", path=self.path
            ) from None
        self._groups.add(child.pid)
        guard.watch(child.pid, 1.5)  # what it leaves running goes with this process
        assert child.stdout is not None
        fd = child.stdout.fileno()
        with child.stdout:
            # Until it exits, then what is left in the pipe: a process it left running in the
            # background may hold the pipe open for good.
            while True:
                exited = child.poll() is not None
                ready, _, _ = select.select([fd], [], [], 0 if exited else 0.1)
                if ready:
                    data = os.read(fd, 65536)
                    if data:
                        printer.feed(data)
                        continue
                    break
                if exited:
                    break
        printer.feed(b"", final=True)
        return Ran(child.wait(), printer.text)

    def _write_command(self) -> None:
        text = expand_locally(self.script_text())  # co.relpath(...): the path itself
        (self.folder / "cmd.sh").write_text(text)
        if self.spec.call is not None:  # the pickled call, as boot.py reads it
            (self.folder / "call").write_bytes(b"C\n" + base64.b64encode(self.spec.call))

    def _call_line(self) -> str:
        boot = Path(__file__).resolve().parents[1] / "backends" / "docker" / "boot.py"
        call = shlex.quote(str(self.folder / "call"))
        return f"exec {shlex.quote(sys.executable)} {shlex.quote(str(boot))} {CALL_MARK} < {call}"

    def _remove(self) -> None:
        for group in self._groups:
            with contextlib.suppress(OSError):
                os.killpg(group, signal.SIGKILL)
            guard.forget(group)
        shutil.rmtree(self.folder, ignore_errors=True)


def start_local(spec: NodeSpec, live: bool = False) -> LocalSession:
    """A local shell environment for the node: its folder made, the command written."""
    job = spec.job
    cwd, env = Path(job.cwd), dict(job.env)
    if isinstance(job.image, Image) and spec.image_tag:  # the run's copy of the image's code
        built = Path(spec.image_tag)
        cwd, env = code_copy(built, spec.run.id), job_env(built, env)
    if live:
        if not spec.code_dirs:
            raise PipelineError(
                "--live works in the host's copy of the image's code, and this node's image "
                "has none: give it a co.Image with copy_dir or copy_repo",
                path=spec.path,
            )
        cwd = Path(next(iter(spec.code_dirs)))
    if "CONDUCTO_DATA_URL" in env:  # the conducto-data-* commands, as the backend gives them
        env["PATH"] = f"{COMMANDS}{os.pathsep}{env.get('PATH', os.environ.get('PATH', ''))}"
        env.setdefault("CONDUCTO_DATA_PYTHON", sys.executable)
    if spec.call is not None:  # what this kernel imports, as the local backend's workers have
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p and os.path.isdir(p))
    cwd.mkdir(parents=True, exist_ok=True)
    folder = home() / "debug" / f"{spec.run.id}-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True, mode=0o700)
    exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items() if k.isidentifier())
    env_file = folder / "env.sh"
    env_file.touch(mode=0o600)
    env_file.write_text(exports + f"cd {shlex.quote(str(cwd))}\n")
    session = LocalSession(spec, folder, cwd, env)
    session._write_command()
    return session
