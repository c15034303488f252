"""A co.Image's code and pip packages on the local backend, so a pipeline means the same thing
on both backends: `python -m compileall src` must see `src/` here too, not an empty folder.

"Building" an image here makes `$CONDUCTO_NB_HOME/images/local/<content hash>/`: `src/`, the
code the Docker build would COPY (the same snapshot, git's committed files or copy_dir's
tree), and `venv/` when `install_pip` is given (a virtualenv of its own, never the tool's;
`.` installs the copied project). Made once per content, under a lock, marked complete last.
Each pipeline then runs in its own copy of `src/` (`$CONDUCTO_NB_HOME/code/<pipeline>/<hash>`,
kept for its reruns): commands may write where they run without touching another run's code.
The base image and the apt / npm / docker additions do not apply on this machine: the build
log says so.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ...errors import ImageBuildError
from ...images.image import Image
from ...store.db import home

__all__ = ["build_locally", "code_copy", "is_complete", "job_env", "uses_code"]

_COMPLETE = ".complete"


def uses_code(image: Image) -> bool:
    """Whether the local backend has anything of `image` to make: code or pip packages."""
    return bool(image.code_source() or image.install_pip)


def build_locally(image: Image, log: Callable[[str], None]) -> Path:
    """Make (or find) the folder of `image`'s code and venv; blocking, for a worker thread."""
    digest = image.snapshot()
    root = home() / "images" / "local"
    root.mkdir(parents=True, exist_ok=True)
    final = root / digest
    with _locked(root / f"{digest}.lock"):
        if is_complete(final):
            log(f"found {final}")
            return final
        shutil.rmtree(final, ignore_errors=True)  # a build that died half-way
        final.mkdir()
        for line in _not_used_here(image):
            log(line)
        if image.code_source() and _copy_code(image, final / "src", log) != digest:
            # what was copied is not what the folder is named after (Docker tags the bytes
            # it sends the same way): never keep newer code under the older name
            raise ImageBuildError(f"{image.code_source()} changed while it was copied: build again")
        if image.install_pip:
            _install_pip(image, final, log)
        (final / _COMPLETE).touch()
    return final


def is_complete(built: Path) -> bool:
    """Whether `built` (a folder `build_locally` made) is there and whole."""
    return (built / _COMPLETE).exists()


def code_folder(pipeline_id: str) -> Path:
    """Where a pipeline's copies of its images' code are kept (gone with the pipeline)."""
    return home() / "code" / pipeline_id


def code_copy(built: Path, pipeline_id: str) -> Path:
    """The pipeline's own copy of a built image's code (made on first use, then kept)."""
    target = code_folder(pipeline_id) / built.name
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".tmp-"))
    source = built / "src"
    if source.is_dir():
        shutil.copytree(source, tmp, symlinks=True, dirs_exist_ok=True)
    try:
        tmp.rename(target)
    except OSError:  # another job of the pipeline made it first
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def job_env(built: Path, env: dict[str, str]) -> dict[str, str]:
    """`env` with the image's venv first on PATH, when it has one."""
    venv = built / "venv"
    if not venv.is_dir():
        return env
    path = env.get("PATH", os.environ.get("PATH", os.defpath))
    return {**env, "PATH": f"{venv / 'bin'}{os.pathsep}{path}", "VIRTUAL_ENV": str(venv)}


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # another process building the same content waits
        yield
    finally:
        os.close(fd)


def _not_used_here(image: Image) -> list[str]:
    unused = [f"base image {image.image}"] if image.image else []
    if image.dockerfile or image.dockerfile_text is not None:
        unused.append("the Dockerfile")
    for key in ("install_packages", "install_npm"):
        if getattr(image, key):
            unused.append(f"{key}={list(getattr(image, key))}")
    if image.install_docker:
        unused.append("install_docker")
    if not unused:
        return []
    return [f"the local backend runs on this machine: {', '.join(unused)} not used here"]


def _copy_code(image: Image, dest: Path, log: Callable[[str], None]) -> str:
    """The same files a Docker build would COPY (the snapshot's `src/`), extracted here; the
    hash of what was copied."""
    import tarfile  # lazy, as the image's context: only where a co.Image has code

    from ...images.context import TarSink

    with tempfile.TemporaryFile() as f:
        sink = TarSink(f)
        digest = image.snapshot(src=sink)
        sink.close()
        f.seek(0)
        with tarfile.open(fileobj=f) as tar:
            tar.extractall(dest.parent, filter="data")
    count = sum(1 for _ in dest.rglob("*")) if dest.exists() else 0
    dest.mkdir(exist_ok=True)
    log(f"copied {image.code_source()} ({count} entries) to {dest}")
    return digest


def _install_pip(image: Image, final: Path, log: Callable[[str], None]) -> None:
    venv = final / "venv"
    _stream("python -m venv", [sys.executable, "-m", "venv", str(venv)], final, log)
    # '.' is the copied project (an Image without code refuses it: images/image.py)
    packages = [str(final / "src") if p == "." else p for p in image.install_pip]
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check"]
    _stream("pip install", [*pip, *packages], final, log)


def _stream(what: str, argv: list[str], cwd: Path, log: Callable[[str], None]) -> None:
    """Run `argv`, each line of its output to `log`; ImageBuildError with its tail if it fails."""
    log("$ " + " ".join(argv))
    tail: list[str] = []
    with subprocess.Popen(
        argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            log(line.rstrip("\n"))
            tail = [*tail[-9:], line.rstrip("\n")]
    if proc.returncode:
        last = "\n".join(tail)
        raise ImageBuildError(f"{what} failed (exit {proc.returncode}):\n{last}")
