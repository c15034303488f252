"""The build context a `co.Image` sends to Docker, as tars in temporary files: the base
Dockerfile with its `context` (when there is one), and the derived step's: the generated
Dockerfile, the code under `src/` (COPY'd to CODE_DIR) and, only when pip or npm run,
`.conducto_nb/cfg/` with the host's CA bundle and pip/npm index settings
(dockerfile.py). Files are owned by root, with normalised modes, as the hash sees them.
"""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING

from ..errors import ImageBuildError
from .dockerfile import CFG, derived_dockerfile, host_ca_bundle, npm_config, pip_config

if TYPE_CHECKING:
    from .image import Image

__all__ = ["BASE_DOCKERFILE", "Context", "TarSink", "context_tar"]

BASE_DOCKERFILE = "Dockerfile.conducto_nb"  # the base Dockerfile's name in its context


class TarSink:
    """Files into a build context tar, owned by root; a git commit streamed from `git archive`."""

    def __init__(self, f: IO[bytes]) -> None:
        self.tar = tarfile.open(fileobj=f, mode="w", format=tarfile.PAX_FORMAT)  # noqa: SIM115

    def add(self, info: tarfile.TarInfo, data: IO[bytes] | None) -> None:
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        self.tar.addfile(info, data)

    def add_text(self, name: str, text: str | bytes, mode: int = 0o644) -> None:
        data = text.encode() if isinstance(text, str) else text
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = len(data), mode, int(time.time())
        self.add(info, io.BytesIO(data))

    def add_git(self, repo: Path, commit: str, prefix: str) -> None:
        args = ["git", "archive", "--format=tar", f"--prefix={prefix}", commit]
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
        with subprocess.Popen(
            args, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
        ) as proc:
            assert proc.stdout is not None and proc.stderr is not None
            with tarfile.open(fileobj=proc.stdout, mode="r|") as archive:
                for member in archive:  # git's modes follow its umask: as image_hash's
                    member.mode = 0o755 if member.isdir() or member.mode & 0o100 else 0o644
                    if member.issym():
                        member.mode = 0o777
                    self.add(member, archive.extractfile(member) if member.isreg() else None)
            err = proc.stderr.read().decode(errors="replace").strip()
        if proc.returncode:
            raise ImageBuildError(f"git archive {commit} in {repo} failed: {err}")

    def close(self) -> None:
        self.tar.close()


class Context:
    """What one build sends: the tag, and the tars (temporary files) of its one or two steps."""

    def __init__(self, image: Image) -> None:
        self.image = image
        self.base_tar: IO[bytes] | None = None  # the user's Dockerfile and its context
        self.tar: IO[bytes] | None = None  # the derived Dockerfile, src/, .conducto_nb/
        self.hash = ""

    @property
    def tag(self) -> str:
        return f"{self.image.repository}:{self.hash}"

    def close(self) -> None:
        for f in (self.base_tar, self.tar):
            if f is not None:
                f.close()


def context_tar(image: Image, base: str | None = None, user: str = "") -> Context:
    """Snapshot the image's inputs into build-context tars and hash those same bytes (so a
    file edited meanwhile cannot slip in under the old tag). `base` / `user` fill the derived
    Dockerfile (default: the image's own base, run as root)."""
    ctx = Context(image)
    text = image.dockerfile_source()
    derived = image.has_derived_step()
    base_sink = src_sink = None
    try:
        if text is not None:
            ctx.base_tar = tempfile.TemporaryFile()  # noqa: SIM115 (closed by Context.close)
            base_sink = TarSink(ctx.base_tar)
        if derived:
            ctx.tar = tempfile.TemporaryFile()  # noqa: SIM115
            src_sink = TarSink(ctx.tar)
        ctx.hash = image.snapshot(base_sink, src_sink)
        if base_sink is not None and text is not None:
            base_sink.add_text(BASE_DOCKERFILE, text)
            base_sink.close()
        if src_sink is not None:
            the_base = base or image.image or f"{ctx.tag}-base"
            src_sink.add_text("Dockerfile", derived_dockerfile(image, the_base, user))
            if image.install_pip or image.install_npm:
                ca = host_ca_bundle()
                cert = f"{CFG}/ca.crt" if ca else None
                src_sink.add_text(".conducto_nb/cfg/ca.crt", ca or b"")
                src_sink.add_text(".conducto_nb/cfg/pip.conf", pip_config(cert))
                src_sink.add_text(".conducto_nb/cfg/npmrc", npm_config(cert))
            src_sink.close()
    except BaseException:
        ctx.close()
        raise
    for f in (ctx.base_tar, ctx.tar):
        if f is not None:
            f.seek(0)
    image._tag = ctx.tag
    return ctx
