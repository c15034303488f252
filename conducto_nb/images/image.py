"""`co.Image`: the image an Exec runs in, derived from a base plus code and packages.

    img = co.Image("python:3.11-slim", copy_repo=True, install_pip=["pytest"])
    with co.Serial(image=img) as root:
        co.Exec("pytest", name="test")  # runs in /conducto_nb/src, the repo's committed code

The names and meanings are Conducto 0.1.x's, older `reqs_*` spellings included. An Image is
plain, immutable data: it serialises (`to_json` / `from_json`) without touching the disk, and
`name` is the tag it builds to, `conducto-nb/img:<hash>` (`name=` replaces `img`). The hash
covers the content the build reads (content_hash.py); it is computed on first use, not at
construction (it reads every copied file), and a build recomputes it from the exact bytes it
sends to Docker.

Each argument is checked on its own in fields.py, and how they combine here. Code goes
to CODE_DIR (`/conducto_nb/src`), the image's WORKDIR. The Dockerfile: dockerfile.py;
the build context: context.py; building: build.py.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ..errors import ImageBuildError, ParameterError
from . import paths
from .fields import (
    CODE_DIR,
    DEFAULTS,
    absolute,
    branch,
    caller_dir,
    commit,
    field_error,
    flag,
    fold_aliases,
    git_url,
    image_name,
    is_conducto,
    opt_path,
    opt_str,
    path_map,
    shell,
    str_map,
    tag_name,
    words,
)

if TYPE_CHECKING:
    from .content_hash import Sink

__all__ = ["DEFAULT_BASE", "Image"]

#: The base when neither `image` nor a Dockerfile is given: this Python's slim image, as the
#: Docker backend's default (a callable's cloudpickle needs the same Python on both sides).
DEFAULT_BASE = f"python:{sys.version_info.major}.{sys.version_info.minor}-slim"


class Image:
    """A Docker image for Execs: a base (`image`, or `dockerfile` / `dockerfile_text` with
    `context` and `docker_build_args`), code (`copy_dir`, or `copy_repo=True` for the calling
    code's git repository, or `copy_url` + `copy_branch`; `copy_commit` pins either to one
    commit, and a pipeline pins them for you when it starts), packages (`install_pip`,
    `install_packages` for apt/apk, `install_npm`, `install_docker` for a docker CLI). `shell`
    runs the commands; `path_map` maps local paths to container paths for debugging (inferred
    from what is copied); `name=` names the tag's repository (`conducto-nb/NAME:<hash>`).
    Relative paths are read from the calling file's folder (a notebook's: the working dir).

    Without a base, this Python's `python:3.X-slim`. Only committed code is copied from git
    (`git archive`: no submodules, `export-ignore` honoured); `copy_url` is anything git
    clones (a path, file://, https://) and refuses a password in the URL, which would be
    stored with the pipeline: use a git credential helper. `copy_repo` reads back from JSON
    as the repository root it found. Every node's Python imports conducto_nb (the backend
    lends it), so `install_pip` drops Conducto's "conducto", which its scripts listed."""

    #: Conducto's `shell=co.Image.AUTO` (its default): the shell is chosen for you.
    AUTO = "__auto__"

    image: str | None
    dockerfile: str | None
    dockerfile_text: str | None
    context: str | None
    docker_build_args: Mapping[str, str]  # read-only views: an Image does not change
    copy_dir: str | None
    copy_repo: str | None  # the repository's root once resolved
    copy_url: str | None
    copy_branch: str | None
    copy_commit: str | None  # the commit copied, set when a pipeline starts (pin.py)
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
        copy_commit: str | None = None,
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
        given = {k: v for k, v in locals().items() if k in DEFAULTS}
        # Conducto's `instantiation_directory`: where relative paths are read from.
        base = older.pop("instantiation_directory", None)
        if base is not None and not Path(base).is_dir():
            raise field_error("instantiation_directory", f"{base} is not a directory")
        self._setup(fold_aliases(given, older), resolve=True, base=base)

    # -- construction -------------------------------------------------------------------
    def _setup(
        self,
        fields: Mapping[str, Any],
        *,
        resolve: bool,
        base: str | os.PathLike[str] | None = None,
    ) -> None:
        """Validate and normalise. `resolve` (a user's call, not JSON) also finds the calling
        repository for copy_repo=True and checks that named paths exist, to fail early."""
        base_dir = Path(base).resolve() if base else caller_dir() if resolve else Path.cwd()
        f = {**DEFAULTS, **fields}
        v: dict[str, Any] = {}
        v["image"] = image_name(f)
        v["dockerfile"] = opt_path(f, "dockerfile", base_dir)
        v["dockerfile_text"] = opt_str(f, "dockerfile_text")
        bases = [k for k in ("image", "dockerfile", "dockerfile_text") if v[k] is not None]
        if len(bases) > 1:
            raise field_error(
                bases[1],
                f"`{bases[0]}` and `{bases[1]}` cannot both be given: "
                "an Image starts from one base",
            )
        if not bases:
            v["image"] = DEFAULT_BASE
        v["context"] = opt_path(f, "context", base_dir)
        if v["context"] is None and v["dockerfile"] is not None:
            v["context"] = str(Path(v["dockerfile"]).parent)  # Docker's own habit
        v["docker_build_args"] = str_map(f, "docker_build_args")
        for key in ("context", "docker_build_args"):
            if f[key] and v["image"] is not None:
                raise field_error(
                    key,
                    f"`{key}` applies to `dockerfile` or `dockerfile_text`, not to a base `image`",
                )

        v["copy_dir"] = opt_path(f, "copy_dir", base_dir)
        v["copy_url"] = git_url(f, base_dir)
        v["copy_branch"] = branch(f)
        v["copy_commit"] = commit(f)
        repo = f["copy_repo"]
        if repo is not None and not isinstance(repo, bool | str | os.PathLike):
            raise field_error(
                "copy_repo", f"must be True or a path in a git repository, not {repo!r}"
            )
        if repo is True:  # the calling code's repository (a `.conducto.cfg`'s: the cwd's)
            v["copy_repo"] = str(_repo_root(base_dir))
        elif repo is False or repo is None:
            v["copy_repo"] = None
        else:
            path = absolute(repo, base_dir)
            v["copy_repo"] = str(_repo_root(path)) if resolve else str(path)
        code = [k for k in ("copy_dir", "copy_repo", "copy_url") if v[k] is not None]
        if len(code) > 1:
            raise field_error(
                code[1],
                f"`{code[0]}` and `{code[1]}` cannot both be given: "
                "an Image copies code from one place",
            )
        if v["copy_branch"] is not None and v["copy_repo"] is None and v["copy_url"] is None:
            raise field_error("copy_branch", "`copy_branch` needs `copy_url` or `copy_repo`")
        if v["copy_commit"] is not None and v["copy_repo"] is None and v["copy_url"] is None:
            raise field_error("copy_commit", "`copy_commit` needs `copy_url` or `copy_repo`")

        v["docker_auto_workdir"] = flag(f, "docker_auto_workdir")
        v["install_docker"] = flag(f, "install_docker")
        for key in ("install_pip", "install_packages", "install_npm"):
            v[key] = words(f, key)
        # Conducto's scripts asked for the library itself ("conducto"): every node has
        # conducto_nb, lent by the backend (the version this pipeline runs with).
        v["install_pip"] = tuple(w for w in v["install_pip"] if not is_conducto(w))
        if "." in v["install_pip"] and not code:
            raise field_error(
                "install_pip",
                "'.' installs the copied project: give copy_dir, copy_repo or copy_url too",
            )
        v["shell"] = shell(f)
        self._name = tag_name(f)
        workdir = CODE_DIR if code and v["docker_auto_workdir"] else None
        v["path_map"] = path_map(f, base_dir, workdir)
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
                    raise field_error(key, f"{v[key]} is not a {kind}")
        for key in ("docker_build_args", "path_map"):
            v[key] = MappingProxyType(v[key])
        self.__dict__.update(v)
        self._tag: str | None = None
        self._frozen = True

    def __setattr__(self, key: str, value: Any) -> None:
        if getattr(self, "_frozen", False) and key != "_tag":
            raise AttributeError(f"an Image cannot change (`{key}`): make a new one")
        object.__setattr__(self, key, value)

    @classmethod
    def register_directory(cls, name: str, relative: str | os.PathLike[str]) -> Path:
        """Conducto's named directory: `relative` (read from the calling file's folder) under
        `name`. Conducto's other hosts found the folder by that name; here there is one host,
        so this checks the folder and returns it (see paths.py)."""
        try:
            return paths.register_directory(name, relative)
        except ValueError as e:
            raise ParameterError(str(e), param="register_directory") from None

    share_directory = register_directory

    # -- data ---------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The fields that differ from the defaults, as JSON; `from_json` gives it back."""
        out: dict[str, Any] = {}
        for key, default in DEFAULTS.items():
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
        fields = fold_aliases({}, dict(data))
        self = cls.__new__(cls)
        self._setup(fields, resolve=False)
        return self

    def replace(self, **changes: Any) -> Image:
        """A copy with `changes` (fields by their JSON names), without touching the disk."""
        return Image.from_json({**self.to_json(), **changes})

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
        from .build import build_sync

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
        from . import content_hash

        return content_hash.snapshot(self, context, src)


def _repo_root(path: Path) -> Path:
    from .content_hash import repo_root  # lazy: hashing's imports (tarfile...) cost ~5 ms

    return repo_root(path)
