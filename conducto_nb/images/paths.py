"""Local paths named in commands, and where they are when a command runs: Conducto's
`co.relpath`, `co.Path` and `co.Image.register_directory`, self-hosted.

Conducto ran commands on other machines (its workers, its cloud), so a script could not
write a local path into a command: `co.relpath(path)` marked it, and the path was rewritten
for wherever the command ran, through the image's `path_map`. Here commands run on this
machine, in a process (local backend) or in a container (Docker backend): a marked path is
the local path itself for a process, and its place in the image for a container (the
image's `path_map`, which copy_dir and copy_repo fill). `co.Path` was Conducto's path that
knew which host it belonged to; with one host it is a local absolute path with Conducto's
method names. A registered directory was a name other hosts used for a local folder; with
one host the name simply stands for the folder.
"""

from __future__ import annotations

import os
import pathlib
import re
import shlex
from collections.abc import Mapping
from typing import Any

from .fields import caller_dir

__all__ = [
    "Path",
    "PathNotInImage",
    "expand_for_container",
    "expand_locally",
    "register_directory",
    "registered_directories",
    "relpath",
]

_MARK = re.compile(r"__conducto_path:(.*?):endpath__")
_REGISTERED: dict[str, Path] = {}


class PathNotInImage(ValueError):
    """A `co.relpath` path that the image's container does not hold."""


class Path(pathlib.PosixPath):
    """Conducto's `co.Path`: an absolute local path. Its host-translating methods are kept
    and, with one host, translate nothing."""

    @classmethod
    def from_localhost(cls, path: str | os.PathLike[str]) -> Path:
        """A local path, relative ones read from the calling file's folder."""
        return cls(caller_dir() / os.path.expanduser(path)).resolve()

    @classmethod
    def from_dockerhost(cls, path: str | os.PathLike[str]) -> Path:
        """The Docker host is this machine: the same as `from_localhost`."""
        return cls(caller_dir() / os.path.expanduser(path)).resolve()

    def to_docker_host(self) -> str:
        return str(self)

    def linear(self) -> str:
        """The path as one string (Conducto's serialised form)."""
        return str(self)

    def is_subdir_of(self, parent: str | os.PathLike[str]) -> bool:
        """Whether this path is `parent` or below it."""
        return self == Path(parent) or Path(parent) in self.parents


def relpath(path: str | os.PathLike[str]) -> str:
    """A local path for a command: rewritten, when the command runs, to where that path is
    there (itself for a process, its copy in the image for a container). Relative paths are
    read from the calling file's folder."""
    local = Path(caller_dir() / os.path.expanduser(path)).resolve()
    return f"__conducto_path:{local}:endpath__"


def expand_locally(command: str) -> str:
    """The command with each marked path as the local path it is."""
    return _MARK.sub(lambda m: shlex.quote(m.group(1)), command)


def expand_for_container(command: str, image: Any) -> str:
    """The command with each marked path as its place in `image`'s container (its
    `path_map`); PathNotInImage names a path the image does not hold."""

    def inside(match: re.Match[str]) -> str:
        local = Path(match.group(1))
        mapping: Mapping[str, str] = getattr(image, "path_map", None) or {}
        for outside, there in mapping.items():
            if local.is_subdir_of(outside):
                rel = local.relative_to(outside).as_posix()
                return shlex.quote(there if rel == "." else f"{there.rstrip('/')}/{rel}")
        raise PathNotInImage(
            f"co.relpath({str(local)!r}) is not in the image's container: give the co.Image "
            "copy_dir or copy_repo holding it, or a path_map entry for its folder"
        )

    return _MARK.sub(inside, command)


def register_directory(name: str, relative: str | os.PathLike[str]) -> Path:
    """Give a local folder a name (Conducto's `Image.register_directory`/`share_directory`):
    the folder, checked to exist, which `registered_directories()` lists."""
    if not isinstance(name, str) or not name.strip() or "/" in name:
        raise ValueError(f"a registered directory's name is a word without '/', not {name!r}")
    folder = Path(caller_dir() / os.path.expanduser(relative)).resolve()
    if not folder.is_dir():
        raise ValueError(f"register_directory({name!r}): {folder} is not a directory")
    _REGISTERED[name] = folder
    return folder


def registered_directories() -> dict[str, Path]:
    """The folders named so far in this process."""
    return dict(_REGISTERED)
