"""`co.Image`: the image an Exec runs in, derived from a base plus code and packages.

    img = co.Image("python:3.11-slim", copy_repo=True, install_pip=["pytest"])
    with co.Serial(image=img) as root:
        co.Exec("pytest", name="test")  # runs in /conducto_nb/src, the repo's committed code

The names and meanings are Conducto 0.1.x's, older `reqs_*` spellings included. An Image is
plain, immutable data: it serialises (`to_json` / `from_json`) without touching the disk, and
`name` is the tag it builds to, `conducto-nb/img:<hash>` (`name=` replaces `img`).

The hash covers what the build reads: the base's name (a base rebuilt under the same name is
noticed at build time, by the id recorded in a label), the Dockerfile text and build args, the
installs, and the CONTENT of copied files: path, bytes, exec bit, link target; never mtimes,
owners or other mode bits (the tar normalises those). A git source counts by its tree id, so
only commits change it; `.dockerignore` in a copied folder or context leaves files out of both
the copy and the hash. `shell` and `path_map` only say how to run and debug: not in the hash.
It is computed on first use, not at construction (it reads every copied file), and a build
recomputes it from the exact bytes it sends to Docker.

Code goes to CODE_DIR (`/conducto_nb/src`), the image's WORKDIR. Building: image_build.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import stat
import subprocess
import sys
import tarfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType, MappingProxyType
from typing import IO, Any, Protocol

from .errors import ImageBuildError, ParameterError
from .params import _IMAGE, suggest

__all__ = ["CODE_DIR", "DEFAULT_BASE", "Image"]

#: Where copy_dir / copy_repo / copy_url put the code; the image's WORKDIR.
CODE_DIR = "/conducto_nb/src"
#: The base when neither `image` nor a Dockerfile is given: this Python's slim image, as the
#: Docker backend's default (a callable's cloudpickle needs the same Python on both sides).
DEFAULT_BASE = f"python:{sys.version_info.major}.{sys.version_info.minor}-slim"
#: Bump when a build of the same inputs would give a different image (hash rules, layout).
HASH_VERSION = 1

# Every field in Conducto's order, with its default; to_json writes only what differs.
_DEFAULTS: dict[str, Any] = {
    "image": None,
    "dockerfile": None,
    "dockerfile_text": None,
    "context": None,
    "docker_build_args": {},
    "copy_dir": None,
    "copy_repo": None,
    "copy_url": None,
    "copy_branch": None,
    "docker_auto_workdir": True,
    "path_map": {},
    "install_pip": (),
    "install_packages": (),
    "install_npm": (),
    "install_docker": False,
    "shell": "/bin/sh",
    "name": None,
}
#: Conducto's older names.
ALIASES = {
    "reqs_py": "install_pip",
    "reqs_packages": "install_packages",
    "reqs_npm": "install_npm",
    "reqs_docker": "install_docker",
}
_NAME = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")  # one Docker path component
_GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_PROTOCOL_FROM_USER": "0", "LC_ALL": "C"}


class Sink(Protocol):
    """Where a snapshot's files go (a tar build context); hashing needs none."""

    def add(self, info: tarfile.TarInfo, data: IO[bytes] | None) -> None: ...

    def add_git(self, repo: Path, commit: str, prefix: str) -> None: ...


class Image:
    """A Docker image for Execs: a base (`image`, or `dockerfile` / `dockerfile_text` with
    `context` and `docker_build_args`), code (`copy_dir`, or `copy_repo=True` for the calling
    code's git repository, or `copy_url` + `copy_branch`), packages (`install_pip`,
    `install_packages` for apt/apk, `install_npm`, `install_docker` for a docker CLI). `shell`
    runs the commands; `path_map` maps local paths to container paths for debugging (inferred
    from what is copied); `name=` names the tag's repository (`conducto-nb/NAME:<hash>`).
    Relative paths are read from the calling file's folder (a notebook's: the working dir).

    Without a base, this Python's `python:3.X-slim`. Only committed code is copied from git
    (`git archive`: no submodules, `export-ignore` honoured); `copy_url` is anything git
    clones (a path, file://, https://) and refuses a password in the URL, which would be
    stored with the pipeline: use a git credential helper. `copy_repo` reads back from JSON
    as the repository root it found."""

    image: str | None
    dockerfile: str | None
    dockerfile_text: str | None
    context: str | None
    docker_build_args: Mapping[str, str]  # read-only views: an Image does not change
    copy_dir: str | None
    copy_repo: str | None  # the repository's root once resolved
    copy_url: str | None
    copy_branch: str | None
    docker_auto_workdir: bool
    path_map: Mapping[str, str]
    install_pip: tuple[str, ...]
    install_packages: tuple[str, ...]
    install_npm: tuple[str, ...]
    install_docker: bool
    shell: str

    def __init__(
        self,
        image: str | None = None,
        *,
        dockerfile: str | os.PathLike[str] | None = None,
        dockerfile_text: str | None = None,
        context: str | os.PathLike[str] | None = None,
        docker_build_args: Mapping[str, Any] | None = None,
        copy_dir: str | os.PathLike[str] | None = None,
        copy_repo: bool | str | os.PathLike[str] | None = None,
        copy_url: str | None = None,
        copy_branch: str | None = None,
        docker_auto_workdir: bool = True,
        path_map: Mapping[str, str] | None = None,
        install_pip: str | Sequence[str] | None = None,
        install_packages: str | Sequence[str] | None = None,
        install_npm: str | Sequence[str] | None = None,
        install_docker: bool = False,
        shell: str = "/bin/sh",
        name: str | None = None,
        **older: Any,
    ) -> None:
        given = {k: v for k, v in locals().items() if k in _DEFAULTS}
        self._setup(_fold_aliases(given, older), resolve=True)

    # -- construction -------------------------------------------------------------------
    def _setup(self, fields: Mapping[str, Any], *, resolve: bool) -> None:
        """Validate and normalise. `resolve` (a user's call, not JSON) also finds the calling
        repository for copy_repo=True and checks that named paths exist, to fail early."""
        base_dir = _caller_dir() if resolve else Path.cwd()
        f = {**_DEFAULTS, **fields}
        v: dict[str, Any] = {}
        v["image"] = _opt_str(f, "image")
        if v["image"] is not None and not _IMAGE.match(v["image"]):
            raise _err("image", f"{v['image']!r} is not a valid image name (like 'python:3.11')")
        v["dockerfile"] = _opt_path(f, "dockerfile", base_dir)
        v["dockerfile_text"] = _opt_str(f, "dockerfile_text")
        bases = [k for k in ("image", "dockerfile", "dockerfile_text") if v[k] is not None]
        if len(bases) > 1:
            raise _err(
                bases[1],
                f"`{bases[0]}` and `{bases[1]}` cannot both be given: "
                "an Image starts from one base",
            )
        if not bases:
            v["image"] = DEFAULT_BASE
        v["context"] = _opt_path(f, "context", base_dir)
        if v["context"] is None and v["dockerfile"] is not None:
            v["context"] = str(Path(v["dockerfile"]).parent)  # Docker's own habit
        v["docker_build_args"] = _str_map(f, "docker_build_args")
        for key in ("context", "docker_build_args"):
            if f[key] and v["image"] is not None:
                raise _err(
                    key,
                    f"`{key}` applies to `dockerfile` or `dockerfile_text`, not to a base `image`",
                )

        v["copy_dir"] = _opt_path(f, "copy_dir", base_dir)
        v["copy_url"] = _url(f, base_dir)
        v["copy_branch"] = _opt_str(f, "copy_branch")
        if v["copy_branch"] is not None:
            _no_option("copy_branch", v["copy_branch"])
        repo = f["copy_repo"]
        if repo is not None and not isinstance(repo, bool | str | os.PathLike):
            raise _err("copy_repo", f"must be True or a path in a git repository, not {repo!r}")
        if repo is True:  # the calling code's repository (a `.conducto.cfg`'s: the cwd's)
            v["copy_repo"] = str(_repo_root(base_dir))
        elif repo is False or repo is None:
            v["copy_repo"] = None
        else:
            path = _absolute(repo, base_dir)
            v["copy_repo"] = str(_repo_root(path)) if resolve else str(path)
        code = [k for k in ("copy_dir", "copy_repo", "copy_url") if v[k] is not None]
        if len(code) > 1:
            raise _err(
                code[1],
                f"`{code[0]}` and `{code[1]}` cannot both be given: "
                "an Image copies code from one place",
            )
        if v["copy_branch"] is not None and v["copy_repo"] is None and v["copy_url"] is None:
            raise _err("copy_branch", "`copy_branch` needs `copy_url` or `copy_repo`")

        v["docker_auto_workdir"] = _bool(f, "docker_auto_workdir")
        v["install_docker"] = _bool(f, "install_docker")
        for key in ("install_pip", "install_packages", "install_npm"):
            v[key] = _words(f, key)
        v["shell"] = _opt_str(f, "shell")
        if not v["shell"] or "\n" in v["shell"]:
            raise _err("shell", f"must be a shell's path like '/bin/bash', not {v['shell']!r}")
        name = _opt_str(f, "name")
        if name is not None and not _NAME.match(name):
            raise _err(
                "name",
                f"{name!r} must be lowercase letters, digits and . _ - (it names the image's tag)",
            )
        self._name = name
        v["path_map"] = _path_map(f, base_dir)
        if not v["path_map"] and (local := v["copy_dir"] or v["copy_repo"]):
            v["path_map"] = {local: CODE_DIR}

        if resolve:
            for key, want in (
                ("dockerfile", Path.is_file),
                ("context", Path.is_dir),
                ("copy_dir", Path.is_dir),
            ):
                if v[key] is not None and not want(Path(v[key])):
                    kind = "file" if key == "dockerfile" else "directory"
                    raise _err(key, f"{v[key]} is not a {kind}")
        for key in ("docker_build_args", "path_map"):
            v[key] = MappingProxyType(v[key])
        self.__dict__.update(v)
        self._tag: str | None = None
        self._frozen = True

    def __setattr__(self, key: str, value: Any) -> None:
        if getattr(self, "_frozen", False) and key != "_tag":
            raise AttributeError(f"an Image cannot change (`{key}`): make a new one")
        object.__setattr__(self, key, value)

    # -- data ---------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The fields that differ from the defaults, as JSON; `from_json` gives it back."""
        out: dict[str, Any] = {}
        for key, default in _DEFAULTS.items():
            value = self._name if key == "name" else getattr(self, key)
            if isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, Mapping):
                value = dict(value)
            if value != (list(default) if isinstance(default, tuple) else default):
                out[key] = value
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Image:
        """Read `to_json`'s form (or `.conducto.cfg` image keys) without touching the disk:
        a stored pipeline or a remote worker need not have the files."""
        if not isinstance(data, Mapping):
            raise ParameterError(f"an Image's JSON form is an object, not {data!r}"[:200])
        fields = _fold_aliases({}, dict(data))
        self = cls.__new__(cls)
        self._setup(fields, resolve=False)
        return self

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Image) and other.to_json() == self.to_json()

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_json(), sort_keys=True))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.to_json().items())
        return f"Image({args})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Image.from_json, (self.to_json(),))

    # -- the tag ------------------------------------------------------------------------
    @property
    def repository(self) -> str:
        return f"conducto-nb/{self._name or 'img'}"

    @property
    def name(self) -> str:
        """The tag this Image builds to. Reads every copied file the first time (then cached
        on this object; a build refreshes it), so it raises ImageBuildError when one is
        missing; needs no Docker daemon."""
        if self._tag is None:
            self._tag = f"{self.repository}:{self.snapshot()}"
        return self._tag

    def build(self, client: Any = None, log: Callable[[str], None] | None = None) -> str:
        """Build (or find) this image now and return its tag; `log(line)` sees the build's
        output. Blocking: for notebooks and scripts; runners use `image_build.build`."""
        from .image_build import build_sync

        return build_sync(self, client, log)

    def needs_derived_build(self) -> bool:
        """Whether anything is added on top of the base (else the base is used as is)."""
        return bool(
            self.code_source()
            or self.install_pip
            or self.install_packages
            or self.install_npm
            or self.install_docker
        )

    def has_derived_step(self) -> bool:
        """A base `image` always gets one (it carries our labels); a Dockerfile only for
        additions (its own build is then the image)."""
        return self.image is not None or self.needs_derived_build()

    def code_source(self) -> str | None:
        return self.copy_dir or self.copy_repo or self.copy_url

    def dockerfile_source(self) -> str | None:
        """The base Dockerfile's text (read now from `dockerfile`), or None for `image`."""
        if self.dockerfile is None:
            return self.dockerfile_text
        try:
            return Path(self.dockerfile).read_text()
        except (OSError, UnicodeDecodeError) as e:
            raise ImageBuildError(f"`dockerfile` {self.dockerfile} cannot be read: {e}") from e

    def snapshot(self, context: Sink | None = None, src: Sink | None = None) -> str:
        """The hash of everything the build reads, feeding those same bytes to the sinks:
        `context` gets the base Dockerfile's context, `src` the code (under `src/`)."""
        from .image_build import derived_dockerfile

        h = hashlib.sha256()
        recipe = {
            "v": HASH_VERSION,
            "image": self.image,
            "dockerfile_text": self.dockerfile_source(),
            "docker_build_args": dict(self.docker_build_args),
            "derived": derived_dockerfile(self) if self.has_derived_step() else None,
        }
        h.update(json.dumps(recipe, sort_keys=True).encode())
        if self.context is not None and self.image is None:
            h.update(b"\0context\0")
            _add_tree(Path(self.context), "", h, context, "context")
        if self.copy_dir is not None:
            h.update(b"\0copy_dir\0")
            _add_tree(Path(self.copy_dir), "src/", h, src, "copy_dir")
        elif self.copy_repo is not None or self.copy_url is not None:
            h.update(b"\0git\0")
            _add_git(self, h, src)
        return h.hexdigest()[:16]


# ---------------------------------------------------------------- validation helpers
def _err(field: str, message: str) -> ParameterError:
    text = message if message.startswith("`") else f"`{field}` {message}"
    return ParameterError(text, param=field)


def _fold_aliases(given: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Conducto's `reqs_*` names onto `install_*`; anything else unknown is an error."""
    fields = dict(given)
    for key, value in extra.items():
        canon = ALIASES.get(key, key)
        if canon not in _DEFAULTS:
            hint = suggest(key, [*_DEFAULTS, *ALIASES])
            raise ParameterError(f"unknown Image parameter `{key}`{hint}", param=key)
        if key in ALIASES and fields.get(canon) not in (None, _DEFAULTS[canon]):
            raise _err(canon, f"`{key}` is Conducto's older name for `{canon}`: give one")
        fields[canon] = value
    return fields


def _opt_str(f: Mapping[str, Any], key: str) -> Any:
    value = f[key]
    if value is None or isinstance(value, str):
        return value
    raise _err(key, f"must be a string, not {type(value).__name__}")


def _opt_path(f: Mapping[str, Any], key: str, base: Path) -> str | None:
    value = f[key]
    if value is None:
        return None
    if not isinstance(value, str | os.PathLike) or not str(value):
        raise _err(key, f"must be a path, not {value!r}")
    return str(_absolute(value, base))


def _absolute(value: str | os.PathLike[str], base: Path) -> Path:
    return Path(os.path.normpath(base / Path(value).expanduser()))


def _bool(f: Mapping[str, Any], key: str) -> bool:
    value = f[key]
    if isinstance(value, bool):
        return value
    raise _err(key, f"must be True or False, not {value!r}")


def _no_option(key: str, value: str) -> None:
    """A value that reaches a command line must not read as an option (`--upload-pack=...`)."""
    if not value.strip() or value.startswith("-") or any(c in value for c in "\n\r\0"):
        raise _err(key, f"{value!r} is not a valid value here")


def _words(f: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = f[key]
    if value is None:
        return ()
    if isinstance(value, str):
        value = shlex.split(value)  # as `.conducto.cfg` lists: "pytest 'ruff>=0.6'"
    if not isinstance(value, Sequence) or not all(isinstance(w, str) for w in value):
        raise _err(key, f"must be a list of package names, not {value!r}")
    for word in value:
        _no_option(key, word)
        if key != "install_pip" and len(word.split()) != 1:  # pip takes "pkg >= 1.0"
            raise _err(key, f"takes one package name per item, not {word!r}")
    return tuple(value)


def _str_map(f: Mapping[str, Any], key: str) -> dict[str, str]:
    value = f[key]
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _err(key, f"must be a dict of names to strings, not {type(value).__name__}")
    out = {}
    for k, val in value.items():
        if (
            not isinstance(k, str)
            or isinstance(val, bool)
            or not isinstance(val, str | int | float)
        ):
            raise _err(key, f"must map names to strings; {k!r}: {val!r} is not")
        out[k] = str(val)
    return out


def _path_map(f: Mapping[str, Any], base: Path) -> dict[str, str]:
    raw = _str_map(f, "path_map")
    out = {}
    for local, inside in raw.items():
        if not inside.startswith("/"):
            raise _err("path_map", f"maps to container paths, which are absolute: {inside!r}")
        out[str(_absolute(local, base))] = inside
    return out


def _is_local_url(url: str) -> bool:
    """A path or file:// URL (git reads it directly), not a network remote."""
    if url.startswith("file://"):
        return True
    if "://" in url:
        return False
    head = url.split("/", 1)[0]
    return ":" not in head  # `git@host:org/repo` is scp-like ssh


def _url(f: Mapping[str, Any], base: Path) -> str | None:
    url: str | None = _opt_str(f, "copy_url")
    if url is None:
        return None
    _no_option("copy_url", url)
    if "://" in url and "@" in url.split("://", 1)[1].split("/", 1)[0]:
        netloc = url.split("://", 1)[1].split("/", 1)[0]
        if ":" in netloc.split("@", 1)[0]:
            raise _err(
                "copy_url",
                "must not carry a password (it would be stored with the "
                "pipeline): use a git credential helper",
            )
    if _is_local_url(url) and not url.startswith("file://"):
        return str(_absolute(url, base))
    return url


def _caller_dir() -> Path:
    """The folder of the user code calling us (Conducto's rule for relative paths); the
    working directory for notebook cells, `python -c` and the REPL."""
    here = str(Path(__file__).parent)
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(here):
        frame = frame.f_back
    name = frame.f_code.co_filename if frame is not None else ""
    path = Path(name)
    if name.startswith("<") or "ipykernel_" in name or not path.is_file():
        return Path.cwd()
    return path.resolve().parent


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


def _repo_root(path: Path) -> Path:
    folder = path if path.is_dir() else path.parent
    try:
        return Path(git(["rev-parse", "--show-toplevel"], cwd=folder))
    except ImageBuildError as e:
        raise _err("copy_repo", f"needs a git repository, and {path} is not in one ({e})") from None


def _local_commit(repo: Path | str, branch: str | None) -> tuple[str, str]:
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
    if image.copy_repo is not None or _is_local_url(where):
        repo = where.removeprefix("file://")
        if not Path(repo).is_dir():
            key = "copy_repo" if image.copy_repo else "copy_url"
            raise ImageBuildError(f"`{key}` {repo} is not a directory")
        commit, tree = _local_commit(repo, branch)
        h.update(f"tree {tree}".encode())
        if sink is not None:
            sink.add_git(Path(repo), commit, "src/")
        return
    if sink is None:
        found = _pick_ref(git(["ls-remote", "--", where, branch or "HEAD"]), branch)
        if found is None:
            raise ImageBuildError(f"`copy_url` {where} has no branch {branch or 'HEAD'!r}")
        h.update(f"commit {found}".encode())
        return
    import tempfile

    with tempfile.TemporaryDirectory(prefix="conducto_nb-clone-") as tmp:
        opts = ["--branch", branch] if branch else []
        git(["clone", "--quiet", "--bare", "--depth", "1", *opts, "--", where, tmp])
        commit = git(["rev-parse", "HEAD^{commit}"], cwd=tmp)
        h.update(f"commit {commit}".encode())
        sink.add_git(Path(tmp), commit, "src/")


def _pick_ref(ls_remote: str, branch: str | None) -> str | None:
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
        from .image_build import dockerignore_walk

        yield from dockerignore_walk(root)
        return
    for folder, dirs, files in os.walk(root):
        rel = os.path.relpath(folder, root)
        for entry in dirs + files:
            yield entry if rel == "." else f"{rel}/{entry}"


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
