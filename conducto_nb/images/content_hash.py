"""The hash that names a `co.Image`'s tag, and the files it covers, read once for both: the
bytes hashed are the bytes a build context gets (`Sink`), so a file edited meanwhile cannot
slip in under the old tag.

The hash covers what the build reads: the base's name (a base rebuilt under the same name is
noticed at build time, by the id recorded in a label), the Dockerfile text and build args, the
installs, and the CONTENT of copied files: path, bytes, exec bit, link target; never mtimes,
owners or other mode bits (the tar normalises those). A git source counts by its tree id, so
only commits change it; `.dockerignore` in a copied folder or context leaves files out of both
the copy and the hash. `shell` and `path_map` only say how to run and debug: not in the hash.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import stat
import subprocess
import tarfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

from ..errors import ImageBuildError
from .docker_sdk import import_docker
from .dockerfile import derived_dockerfile
from .fields import field_error, is_local_url

if TYPE_CHECKING:
    from .image import Image

__all__ = [
    "HASH_VERSION",
    "Sink",
    "dockerignore_walk",
    "git",
    "local_commit",
    "pick_ref",
    "repo_root",
    "snapshot",
]

#: Bump when a build of the same inputs would give a different image (hash rules, layout).
HASH_VERSION = 1
_GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_PROTOCOL_FROM_USER": "0", "LC_ALL": "C"}


class Sink(Protocol):
    """Where a snapshot's files go (a tar build context); hashing needs none."""

    def add(self, info: tarfile.TarInfo, data: IO[bytes] | None) -> None: ...

    def add_git(self, repo: Path, commit: str, prefix: str) -> None: ...


def snapshot(image: Image, context: Sink | None = None, src: Sink | None = None) -> str:
    """The hash of everything the build of `image` reads, feeding those same bytes to the
    sinks: `context` gets the base Dockerfile's context, `src` the code (under `src/`)."""
    h = hashlib.sha256()
    recipe = {
        "v": HASH_VERSION,
        "image": image.image,
        "dockerfile_text": image.dockerfile_source(),
        "docker_build_args": dict(image.docker_build_args),
        "derived": derived_dockerfile(image) if image.has_derived_step() else None,
    }
    h.update(json.dumps(recipe, sort_keys=True).encode())
    if image.context is not None and image.image is None:
        h.update(b"\0context\0")
        _add_tree(Path(image.context), "", h, context, "context")
    if image.copy_dir is not None:
        h.update(b"\0copy_dir\0")
        _add_tree(Path(image.copy_dir), "src/", h, src, "copy_dir")
    elif image.copy_repo is not None or image.copy_url is not None:
        h.update(b"\0git\0")
        _add_git(image, h, src)
    return h.hexdigest()[:16]


# ---------------------------------------------------------------- git
def git(args: Sequence[str], cwd: str | Path | None = None) -> str:
    """Run git (never prompting, no user-defined transports); its stdout, or one clear error."""
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=600,
            env={**os.environ, **_GIT_ENV},
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ImageBuildError(f"git {args[0]} failed: {e}") from e
    if done.returncode:
        err = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise ImageBuildError(f"git {shlex.join(args)} failed: {err}")
    return done.stdout.strip()


def repo_root(path: Path) -> Path:
    """The root of the git repository `path` is in: what `copy_repo` copies."""
    folder = path if path.is_dir() else path.parent
    try:
        return Path(git(["rev-parse", "--show-toplevel"], cwd=folder))
    except ImageBuildError as e:
        raise field_error(
            "copy_repo", f"needs a git repository, and {path} is not in one ({e})"
        ) from None


def local_commit(repo: Path | str, branch: str | None) -> tuple[str, str]:
    """(commit, tree) of `branch` (else HEAD) of a local repository, trying origin's branch
    too, as a CI checkout may have only that."""
    refs = [branch, f"refs/remotes/origin/{branch}"] if branch else ["HEAD"]
    for i, ref in enumerate(refs):
        try:
            commit = git(
                ["rev-parse", "--verify", "--end-of-options", f"{ref}^{{commit}}"], cwd=repo
            )
            break
        except ImageBuildError:
            if i == len(refs) - 1:
                what = f"branch {branch!r}" if branch else "a commit (HEAD)"
                raise ImageBuildError(f"the repository {repo} has no {what} to copy") from None
    return commit, git(["rev-parse", f"{commit}^{{tree}}"], cwd=repo)


def _add_git(image: Image, h: Any, sink: Sink | None) -> None:
    """Committed content only: a local repository by its tree id (content, exec bits,
    links); a network remote by the commit its branch names."""
    branch = image.copy_branch
    where: str = image.copy_repo or image.copy_url or ""
    if image.copy_repo is not None or is_local_url(where):
        repo = where.removeprefix("file://")
        if not Path(repo).is_dir():
            key = "copy_repo" if image.copy_repo else "copy_url"
            raise ImageBuildError(f"`{key}` {repo} is not a directory")
        commit, tree = local_commit(repo, image.copy_commit or branch)
        h.update(f"tree {tree}".encode())
        if sink is not None:
            sink.add_git(Path(repo), commit, "src/")
        return
    if sink is None and image.copy_commit is not None:
        h.update(f"commit {image.copy_commit}".encode())
        return
    if sink is None:
        found = pick_ref(git(["ls-remote", "--", where, branch or "HEAD"]), branch)
        if found is None:
            raise ImageBuildError(f"`copy_url` {where} has no branch {branch or 'HEAD'!r}")
        h.update(f"commit {found}".encode())
        return
    import tempfile

    with tempfile.TemporaryDirectory(prefix="conducto_nb-clone-") as tmp:
        if image.copy_commit is not None:  # that commit only (servers serve any reachable one)
            git(["init", "--quiet", "--bare", tmp])
            git(["fetch", "--quiet", "--depth", "1", "--", where, image.copy_commit], cwd=tmp)
            commit = git(["rev-parse", "FETCH_HEAD^{commit}"], cwd=tmp)
        else:
            opts = ["--branch", branch] if branch else []
            git(["clone", "--quiet", "--bare", "--depth", "1", *opts, "--", where, tmp])
            commit = git(["rev-parse", "HEAD^{commit}"], cwd=tmp)
        h.update(f"commit {commit}".encode())
        sink.add_git(Path(tmp), commit, "src/")


def pick_ref(ls_remote: str, branch: str | None) -> str | None:
    wanted = [f"refs/heads/{branch}", f"refs/tags/{branch}^{{}}", f"refs/tags/{branch}"]
    found: dict[str, str] = {}
    for line in ls_remote.splitlines():
        sha, _, ref = line.partition("\t")
        found[ref] = sha
    for ref in wanted if branch else ["HEAD"]:
        if ref in found:
            return found[ref]
    return None


# ---------------------------------------------------------------- folders
def _included(root: Path) -> Iterator[str]:
    """Relative paths under root, dirs included, minus what `.dockerignore` excludes."""
    if (root / ".dockerignore").is_file():
        yield from dockerignore_walk(root)
        return
    for folder, dirs, files in os.walk(root):
        rel = os.path.relpath(folder, root)
        for entry in dirs + files:
            yield entry if rel == "." else f"{rel}/{entry}"


def dockerignore_walk(root: Path) -> Iterator[str]:
    """The paths of `root` that its `.dockerignore` keeps, by Docker's own rules."""
    docker = import_docker(f"{root}/.dockerignore")
    matcher = docker.utils.build.PatternMatcher
    patterns = [line.strip() for line in (root / ".dockerignore").read_text().splitlines()]
    patterns = [p for p in patterns if p and not p.startswith("#")]
    yield from matcher(patterns).walk(str(root))


class _Hashing:
    """A file object that hashes what is read from it, at most `size` bytes."""

    def __init__(self, f: IO[bytes], h: Any, size: int) -> None:
        self.f, self.h, self.left = f, h, size

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        data = self.f.read(n)
        self.left -= len(data)
        self.h.update(data)
        return data


def _add_tree(root: Path, prefix: str, h: Any, sink: Sink | None, field: str) -> None:
    """Every entry: its path, type, exec bit, link target, size and bytes, in path order;
    mtimes, owners and other mode bits are left out of the hash and normalised in the tar."""
    if not root.is_dir():
        raise ImageBuildError(f"`{field}` {root} is not a directory")
    if prefix and sink is not None:
        top = tarfile.TarInfo(prefix.rstrip("/"))
        top.type, top.mode = tarfile.DIRTYPE, 0o755
        sink.add(top, None)
    for rel in sorted(_included(root)):
        path = root / rel
        try:
            st = path.lstat()
        except OSError as e:
            raise ImageBuildError(f"`{field}`: cannot read {path}: {e}") from e
        info = tarfile.TarInfo(prefix + rel)
        info.mtime = int(st.st_mtime)
        if stat.S_ISLNK(st.st_mode):
            info.type, info.mode, info.linkname = tarfile.SYMTYPE, 0o777, os.readlink(path)
        elif stat.S_ISDIR(st.st_mode):
            info.type, info.mode = tarfile.DIRTYPE, 0o755
        elif stat.S_ISREG(st.st_mode):
            info.mode = 0o755 if st.st_mode & stat.S_IXUSR else 0o644
            info.size = st.st_size
        else:
            continue  # sockets, fifos, devices: nothing to copy
        h.update(
            f"\0{info.type.decode()} {info.mode:o} {info.size} {rel}\0{info.linkname}".encode()
        )
        if not info.isreg():
            if sink is not None:
                sink.add(info, None)
            continue
        try:
            with path.open("rb") as f:
                reader = _Hashing(f, h, info.size)
                if sink is not None:
                    sink.add(info, reader)  # type: ignore[arg-type]
                else:
                    while reader.read(1 << 20):
                        pass
        except OSError as e:
            raise ImageBuildError(f"`{field}`: cannot read {path}: {e}") from e
