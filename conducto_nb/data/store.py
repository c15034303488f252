"""The objects of co.data on this machine's disk, under `$CONDUCTO_NB_HOME/data/`: one scope
is one folder (`pipelines/<pipeline id>/` for a pipeline's data, `user/` for the data a user's
pipelines share), one object is one file named by its object name.

Only the data service (service.py) and a process with no service to talk to (the notebook
outside any pipeline, client.py) come here. Standard library only, like client.py, which
imports it lazily even when it runs as a lone file in a container.

Why the rules:
- A name is checked before it becomes a path: `..`, an absolute name or a NUL would reach
  outside the scope, so they are refused with an error that names the name.
- A write goes to a temporary file in `data/.tmp/` (the same filesystem) and is renamed over
  the object only once complete: a writer that crashes leaves the old object or none, never
  half of one; `list` never sees a write in progress.
- Objects are read and written in chunks: nothing holds a whole object in memory.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

try:
    from ..errors import DataError, DataNotFound
except ImportError:  # a lone file in a container (client.py): the same names, stdlib only

    class DataError(Exception):  # type: ignore[no-redef]
        """co.data cannot do what was asked."""

    class DataNotFound(DataError, FileNotFoundError):  # type: ignore[no-redef]
        """No object of that name in that scope."""


__all__ = ["CHUNK", "SCOPES", "DataError", "DataNotFound", "Scope", "check_name", "scope"]

#: The two scopes, as `co.data.<scope>` names them.
SCOPES = ("pipeline", "user")
#: How much of an object is read or written at a time.
CHUNK = 1 << 16


def check_name(name: object) -> str:
    """`name` as the store keeps it (`a/b`, no empty or `.` parts); a DataError naming it when
    it is not a text name inside its scope."""
    if not isinstance(name, str) or not name:
        raise DataError(f"an object name must be a non-empty str, not {name!r}")
    if "\0" in name:
        raise DataError(f"object name {name!r} contains a NUL byte")
    if name.startswith(("/", "\\")) or os.path.isabs(name):
        raise DataError(f"object name {name!r} is absolute: name it inside its scope")
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise DataError(f"object name {name!r} contains `..`: it must stay inside its scope")
    if not parts:
        raise DataError(f"object name {name!r} names no object")
    return "/".join(parts)


def check_prefix(prefix: str) -> str:
    """A `list` prefix: empty (everything) or checked as a name, keeping a trailing `/`."""
    if prefix in ("", "/", "."):
        return ""
    clean = check_name(prefix)
    return clean + "/" if prefix.endswith("/") else clean


class Scope:
    """One scope's folder; `label` is how messages name it ("pipeline 'abc'", "user")."""

    def __init__(self, root: Path, label: str, tmp: Path) -> None:
        self.root, self.label, self.tmp = root, label, tmp

    def path(self, name: str) -> Path:
        return self.root / check_name(name)

    def missing(self, name: str) -> DataNotFound:
        return DataNotFound(f"no object {name!r} in the {self.label} data")

    # -- reading ----------------------------------------------------------------------------
    def file(self, name: str) -> Path:
        """The object's file; DataNotFound when there is none."""
        path = self.path(name)
        if not path.is_file():
            raise self.missing(name)
        return path

    def open(self, name: str) -> BinaryIO:
        try:
            return self.file(name).open("rb")
        except FileNotFoundError:  # deleted between the check and the open
            raise self.missing(name) from None

    def chunks(self, name: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The object's bytes [start, end), a chunk at a time."""
        with self.open(name) as f:
            f.seek(start)
            left = None if end is None else max(0, end - start)
            while left is None or left > 0:
                data = f.read(CHUNK if left is None else min(CHUNK, left))
                if not data:
                    return
                if left is not None:
                    left -= len(data)
                yield data

    def exists(self, name: str) -> bool:
        return self.path(name).is_file()

    def size(self, name: str) -> int:
        return self.file(name).stat().st_size

    def list(self, prefix: str = "") -> list[str]:
        """Every object name that starts with `prefix`, sorted (as S3 listed Conducto's)."""
        prefix = check_prefix(prefix)
        folder = prefix.rpartition("/")[0]
        top = self.root / folder if folder else self.root
        if not top.is_dir():
            return []
        names = []
        for dirpath, _dirs, files in os.walk(top):
            for file in files:
                rel = (Path(dirpath) / file).relative_to(self.root).as_posix()
                if rel.startswith(prefix):
                    names.append(rel)
        return sorted(names)

    # -- writing ----------------------------------------------------------------------------
    def writer(self, name: str) -> Writer:
        """A writer whose `commit()` replaces the object at once, with all it was given."""
        return Writer(self, check_name(name))

    def write(self, name: str, chunks: Iterable[bytes]) -> int:
        with self.writer(name) as w:
            for chunk in chunks:
                w.write(chunk)
            return w.commit()

    def delete(self, name: str, recursive: bool = False) -> None:
        path = self.path(name)
        if path.is_dir() and not path.is_symlink():
            if not recursive:
                raise DataError(f"{name!r} in the {self.label} data is a folder: pass recursive")
            shutil.rmtree(path)
        elif path.is_file():
            path.unlink()
        else:
            raise self.missing(name)


class Writer:
    """A temporary file that becomes the object on `commit()`; dropped if never committed."""

    def __init__(self, scope: Scope, name: str) -> None:
        self.scope, self.name = scope, name
        scope.tmp.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=scope.tmp, prefix="put-")
        self.tmp = Path(tmp)
        self.f = os.fdopen(fd, "wb")
        self.size = 0

    def write(self, data: bytes) -> None:
        self.f.write(data)
        self.size += len(data)

    def commit(self) -> int:
        """Flush to disk and rename over the object: its size."""
        self.f.flush()
        os.fsync(self.f.fileno())
        self.f.close()
        target = self.scope.root / self.name
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.tmp, target)
        except (NotADirectoryError, FileExistsError, IsADirectoryError) as e:
            raise DataError(
                f"cannot store {self.name!r} in the {self.scope.label} data: {e.strerror}"
            ) from None
        return self.size

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.f.closed:
            self.f.close()
        self.tmp.unlink(missing_ok=True)


def data_home(home: Path | None = None) -> Path:
    """`$CONDUCTO_NB_HOME/data` (or ~/.conducto_nb/data)."""
    base = home or Path(os.environ.get("CONDUCTO_NB_HOME") or "~/.conducto_nb").expanduser()
    return base / "data"


def scope(kind: str, pipeline_id: str | None, home: Path | None = None) -> Scope:
    """The scope `kind` ("pipeline" needs the pipeline's id) under `home`."""
    root = data_home(home)
    if kind == "user":
        return Scope(root / "user", "user", root / ".tmp")
    if kind != "pipeline":
        raise DataError(f"unknown data scope {kind!r}: use one of {', '.join(SCOPES)}")
    if not pipeline_id:
        raise DataError(
            "pipeline data needs a pipeline: use co.data.pipeline inside a node of a running "
            "pipeline (CONDUCTO_PIPELINE_ID is not set here), or co.data.user"
        )
    if "/" in pipeline_id or pipeline_id in (".", "..") or "\0" in pipeline_id:
        raise DataError(f"bad pipeline id {pipeline_id!r}")
    return Scope(root / "pipelines" / pipeline_id, f"pipeline {pipeline_id!r}", root / ".tmp")
