"""`co.Image`'s keyword arguments one by one: each checked and normalised (paths made absolute,
package lists split, maps of strings) with a ParameterError naming the argument, so a mistake
fails where the Image is written, not at build time. How they combine: image.py.

The names and defaults are Conducto 0.1.x's, its older `reqs_*` spellings included.
"""

from __future__ import annotations

import os
import posixpath
import re
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from ..errors import ParameterError, suggest

__all__ = [
    "ALIASES",
    "CODE_DIR",
    "DEFAULTS",
    "IMAGE_NAME",
    "absolute",
    "branch",
    "caller_dir",
    "commit",
    "field_error",
    "flag",
    "fold_aliases",
    "git_url",
    "image_name",
    "is_local_url",
    "no_option",
    "opt_path",
    "opt_str",
    "path_map",
    "shell",
    "str_map",
    "tag_name",
    "words",
]

#: Where copy_dir / copy_repo / copy_url put the code; the image's WORKDIR.
CODE_DIR = "/conducto_nb/src"

# A Docker reference: [registry[:port]/]path[:tag][@digest], lowercase path components.
IMAGE_NAME = re.compile(
    r"^(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[\w][\w.-]{0,127})?(?:@[a-z0-9]+:[a-f0-9]{32,})?$"
)

# Every field in Conducto's order, with its default; to_json writes only what differs.
DEFAULTS: dict[str, Any] = {
    "image": None,
    "dockerfile": None,
    "dockerfile_text": None,
    "context": None,
    "docker_build_args": {},
    "copy_dir": None,
    "copy_repo": None,
    "copy_url": None,
    "copy_branch": None,
    "copy_commit": None,
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
#: Conducto's arguments that meant nothing to a build (it dropped them too): accepted, unused.
IGNORED = frozenset({"pre_built", "git_sha", "git_urls"})
_NAME = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")  # one Docker path component


def field_error(field: str, message: str) -> ParameterError:
    """The error for one argument, its message starting with the argument's name."""
    text = message if message.startswith("`") else f"`{field}` {message}"
    return ParameterError(text, param=field)


def fold_aliases(given: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Conducto's `reqs_*` names onto `install_*`; anything else unknown is an error."""
    fields = dict(given)
    for key, value in extra.items():
        canon = ALIASES.get(key, key)
        if key in IGNORED:
            continue
        if canon not in DEFAULTS:
            hint = suggest(key, [*DEFAULTS, *ALIASES])
            raise ParameterError(f"unknown Image parameter `{key}`{hint}", param=key)
        if key in ALIASES and fields.get(canon) not in (None, DEFAULTS[canon]):
            raise field_error(canon, f"`{key}` is Conducto's older name for `{canon}`: give one")
        fields[canon] = value
    return fields


def opt_str(f: Mapping[str, Any], key: str) -> Any:
    """A string or None (Any: the callers narrow it)."""
    value = f[key]
    if value is None or isinstance(value, str):
        return value
    raise field_error(key, f"must be a string, not {type(value).__name__}")


def image_name(f: Mapping[str, Any]) -> str | None:
    """`image`, checked as Docker would (else its error comes only at build time)."""
    value: str | None = opt_str(f, "image")
    if value is not None and not IMAGE_NAME.match(value):
        raise field_error("image", f"{value!r} is not a valid image name (like 'python:3.11')")
    return value


def branch(f: Mapping[str, Any]) -> str | None:
    """`copy_branch`, which reaches git's command line."""
    value: str | None = opt_str(f, "copy_branch")
    if value is not None:
        no_option("copy_branch", value)
    return value


_COMMIT = re.compile(r"^[0-9a-f]{7,64}$")


def commit(f: Mapping[str, Any]) -> str | None:
    """`copy_commit`: a commit id (hex), the exact code `copy_repo` / `copy_url` copy."""
    value: str | None = opt_str(f, "copy_commit")
    if value is not None and not _COMMIT.match(value):
        raise field_error("copy_commit", f"must be a commit id (7 to 64 hex digits), not {value!r}")
    return value


def shell(f: Mapping[str, Any]) -> str:
    """`shell`: a path to run the commands with, one line."""
    value = opt_str(f, "shell")
    if not value or "\n" in value:
        raise field_error("shell", f"must be a shell's path like '/bin/bash', not {value!r}")
    return str(value)


def tag_name(f: Mapping[str, Any]) -> str | None:
    """`name`, the repository part of the tag: one Docker path component."""
    value: str | None = opt_str(f, "name")
    if value is not None and not _NAME.match(value):
        raise field_error(
            "name",
            f"{value!r} must be lowercase letters, digits and . _ - (it names the image's tag)",
        )
    return value


def opt_path(f: Mapping[str, Any], key: str, base: Path) -> str | None:
    value = f[key]
    if value is None:
        return None
    if not isinstance(value, str | os.PathLike) or not str(value):
        raise field_error(key, f"must be a path, not {value!r}")
    return str(absolute(value, base))


def absolute(value: str | os.PathLike[str], base: Path) -> Path:
    """`value` against `base` (the caller's folder), `~` expanded, not resolving links."""
    return Path(os.path.normpath(base / Path(value).expanduser()))


def flag(f: Mapping[str, Any], key: str) -> bool:
    value = f[key]
    if isinstance(value, bool):
        return value
    raise field_error(key, f"must be True or False, not {value!r}")


def no_option(key: str, value: str) -> None:
    """A value that reaches a command line must not read as an option (`--upload-pack=...`)."""
    if not value.strip() or value.startswith("-") or any(c in value for c in "\n\r\0"):
        raise field_error(key, f"{value!r} is not a valid value here")


def words(f: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = f[key]
    if value is None:
        return ()
    if isinstance(value, str):
        value = shlex.split(value)  # as `.conducto.cfg` lists: "pytest 'ruff>=0.6'"
    if not isinstance(value, Sequence) or not all(isinstance(w, str) for w in value):
        raise field_error(key, f"must be a list of package names, not {value!r}")
    for word in value:
        no_option(key, word)
        if key != "install_pip" and len(word.split()) != 1:  # pip takes "pkg >= 1.0"
            raise field_error(key, f"takes one package name per item, not {word!r}")
    return tuple(value)


_CONDUCTO = re.compile(r"\s*conducto([-_.]nb)?\s*(\[[^\]]*\])?\s*([<>=!~;@].*)?", re.IGNORECASE)


def is_conducto(requirement: str) -> bool:
    """Whether a pip requirement is the pipeline library: Conducto's ("conducto==0.1.28"), as
    its scripts asked for it, or this one ("conducto_nb")."""
    return _CONDUCTO.fullmatch(requirement) is not None


def str_map(f: Mapping[str, Any], key: str) -> dict[str, str]:
    value = f[key]
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise field_error(key, f"must be a dict of names to strings, not {type(value).__name__}")
    out = {}
    for k, val in value.items():
        if (
            not isinstance(k, str)
            or isinstance(val, bool)
            or not isinstance(val, str | int | float)
        ):
            raise field_error(key, f"must map names to strings; {k!r}: {val!r} is not")
        out[k] = str(val)
    return out


def path_map(f: Mapping[str, Any], base: Path, workdir: str | None) -> dict[str, str]:
    """Local paths (relative ones read from `base`) to container paths. A relative container
    path is, as in Conducto, relative to the folder commands run in: `workdir`, the copied
    code's folder; without copied code that folder is unknown, so it must be absolute."""
    raw = str_map(f, "path_map")
    out = {}
    for local, inside in raw.items():
        if not inside.startswith("/"):
            if workdir is None:
                raise field_error(
                    "path_map",
                    f"target {inside!r} is relative to the copied code's folder: give "
                    "copy_dir, copy_repo or copy_url (with docker_auto_workdir), or an "
                    "absolute container path",
                )
            inside = posixpath.normpath(posixpath.join(workdir, inside))
        out[str(absolute(local, base))] = inside
    return out


def is_local_url(url: str) -> bool:
    """A path or file:// URL (git reads it directly), not a network remote."""
    if url.startswith("file://"):
        return True
    if "://" in url:
        return False
    head = url.split("/", 1)[0]
    return ":" not in head  # `git@host:org/repo` is scp-like ssh


def git_url(f: Mapping[str, Any], base: Path) -> str | None:
    """`copy_url`: a local path made absolute, a remote as given but without a password."""
    url: str | None = opt_str(f, "copy_url")
    if url is None:
        return None
    no_option("copy_url", url)
    if "://" in url and "@" in url.split("://", 1)[1].split("/", 1)[0]:
        netloc = url.split("://", 1)[1].split("/", 1)[0]
        if ":" in netloc.split("@", 1)[0]:
            raise field_error(
                "copy_url",
                "must not carry a password (it would be stored with the "
                "pipeline): use a git credential helper",
            )
    if is_local_url(url) and not url.startswith("file://"):
        return str(absolute(url, base))
    return url


def caller_dir() -> Path:
    """The folder of the user code calling us (Conducto's rule for relative paths); the
    working directory for notebook cells, `python -c` and the REPL."""
    here = str(Path(__file__).parents[1])  # the whole package, not only images/
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(here):
        frame = frame.f_back
    name = frame.f_code.co_filename if frame is not None else ""
    path = Path(name)
    if name.startswith("<") or "ipykernel_" in name or not path.is_file():
        return Path.cwd()
    return path.resolve().parent
