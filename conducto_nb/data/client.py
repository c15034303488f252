"""co.data.pipeline and co.data.user (Conducto's co.temp_data and co.perm_data): objects
stored by name, kept for one pipeline run or across a user's runs, the same from the notebook,
a local process or a container.

Standard library only, and importable as a lone file: containers run it without the rest
of conducto_nb (through commands.py, the `conducto-data-*` commands in bin/). Inside a node
it talks to the data service (service.py) at $CONDUCTO_DATA_URL with the pipeline's
$CONDUCTO_DATA_TOKEN; with no service (the notebook, outside any pipeline) it reads
and writes the store on this machine directly (store.py). The environment is read at every
call: a warm worker runs one job after another, each with its own.
"""

from __future__ import annotations

import http.client
import json
import os
import tarfile
import tempfile
import urllib.parse
from collections.abc import Iterator
from typing import Any, BinaryIO

try:
    from ..errors import DataError, DataNotFound
except ImportError:  # a lone file in a container: the same names, stdlib only

    class DataError(Exception):  # type: ignore[no-redef]
        """co.data cannot do what was asked."""

    class DataNotFound(DataError, FileNotFoundError):  # type: ignore[no-redef]
        """No object of that name in that scope."""


__all__ = ["DataError", "DataNotFound", "perm_data", "pipeline", "temp_data", "user"]

CHUNK = 1 << 16
_CACHE = "conducto-cache"


class _Http:
    """One scope of the data service: each call one HTTP request, its body streamed."""

    def __init__(self, url: str, token: str, scope: str) -> None:
        parts = urllib.parse.urlsplit(url)
        self.url, self.host, self.port = url.rstrip("/"), parts.hostname or "", parts.port
        self.token, self.scope = token, scope

    def call(self, method: str, op: str, name: str = "", *args: Any, **kwargs: Any) -> Any:
        """One request whose answer is small JSON: the answer, read."""
        answer = b"".join(self.stream(method, op, name, *args, **kwargs))
        return json.loads(answer) if answer else None

    def stream(
        self, method: str, op: str, name: str = "", *args: Any, **kwargs: Any
    ) -> Iterator[bytes]:
        """One request's answer, a chunk at a time; the connection closes at its end."""
        conn, response = self.request(method, op, name, *args, **kwargs)
        try:
            yield from _chunks(response)
        finally:
            conn.close()

    def request(
        self,
        method: str,
        op: str,
        name: str = "",
        body: Any = None,
        length: int | None = None,
        **query: str,
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        """`body`: bytes, a file of `length` bytes, or an iterator of chunks (sent chunked)."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=300)
        path = f"/v1/{op}/{self.scope}?" + urllib.parse.urlencode({"name": name, **query})
        headers = {"Authorization": f"Bearer {self.token}"}
        chunked = body is not None and not isinstance(body, bytes) and length is None
        if length is not None:
            headers["Content-Length"] = str(length)
        try:
            conn.request(method, path, body=body, headers=headers, encode_chunked=chunked)
            response = conn.getresponse()
        except OSError as e:
            conn.close()
            raise DataError(f"cannot reach the data service at {self.url}: {e}") from None
        if response.status >= 400:
            text = response.read().decode(errors="replace")
            conn.close()
            try:
                message = json.loads(text)["error"]
            except (ValueError, KeyError, TypeError):
                message = text or response.reason
            kind = DataNotFound if response.status == 404 else DataError
            raise kind(message)
        return conn, response


def _chunks(stream: BinaryIO | http.client.HTTPResponse) -> Iterator[bytes]:
    while chunk := stream.read(CHUNK):
        yield chunk


class _Data:
    """Conducto's data interface for one scope (`_scope`); every method a classmethod."""

    _scope = ""

    @classmethod
    def _http(cls) -> _Http | None:
        url = os.environ.get("CONDUCTO_DATA_URL")
        if not url:
            return None
        return _Http(url, os.environ.get("CONDUCTO_DATA_TOKEN", ""), cls._scope)

    @classmethod
    def _local(cls) -> Any:
        """This machine's store, for a process no data service was given to."""
        try:
            from . import store
        except ImportError:
            raise DataError("no data service: $CONDUCTO_DATA_URL is not set") from None
        return store.scope(cls._scope, os.environ.get("CONDUCTO_PIPELINE_ID"))

    @classmethod
    def puts(cls, name: str, obj: bytes) -> None:
        """Store the bytes `obj` as `name`."""
        if not isinstance(obj, bytes | bytearray | memoryview):
            raise DataError(f"co.data puts takes bytes, not {type(obj).__name__}: {obj!r:.80}")
        http = cls._http()
        if http is None:
            cls._local().write(name, [bytes(obj)])
        else:
            _check(name)
            http.call("PUT", "object", name, bytes(obj))

    @classmethod
    def gets(cls, name: str, *, byte_range: list[int] | None = None) -> bytes:
        """The object `name`, or its bytes [begin, end) when `byte_range=[begin, end]`."""
        start, end = (byte_range[0], byte_range[1]) if byte_range else (0, None)
        return b"".join(cls._read(name, start, end))

    @classmethod
    def _read(cls, name: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        http = cls._http()
        if http is None:
            yield from cls._local().chunks(name, start, end)
            return
        _check(name)
        stop = "" if end is None else str(end)
        yield from http.stream("GET", "object", name, start=str(start), end=stop)

    @classmethod
    def put(cls, name: str, file: str, skip_cleanup: bool = False) -> None:
        """Store the file at the local path `file` as `name`, streamed."""
        http = cls._http()
        with open(file, "rb") as f:
            if http is None:
                cls._local().write(name, _chunks(f))
            else:
                _check(name)
                size = os.fstat(f.fileno()).st_size
                http.call("PUT", "object", name, f, length=size)

    @classmethod
    def get(cls, name: str, file: str, local: bool | None = None) -> None:
        """Write the object `name` to the local path `file` (whole, or not at all). `local`
        is Conducto's (local or cloud storage) and changes nothing here."""
        folder = os.path.dirname(os.path.abspath(file))
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".co-data-")
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in cls._read(name):
                    out.write(chunk)
            os.replace(tmp, file)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    @classmethod
    def exists(cls, name: str) -> bool:
        http = cls._http()
        if http is None:
            return bool(cls._local().exists(name))
        _check(name)
        return bool(http.call("GET", "exists", name))

    @classmethod
    def size(cls, name: str) -> int:
        http = cls._http()
        if http is None:
            return int(cls._local().size(name))
        _check(name)
        return int(http.call("GET", "size", name))

    @classmethod
    def list(cls, prefix: str) -> list[str]:
        """Every object name that starts with `prefix`."""
        http = cls._http()
        if http is None:
            return list(cls._local().list(prefix))
        return list(http.call("GET", "list", prefix))

    @classmethod
    def delete(cls, name: str, recursive: bool = False) -> None:
        http = cls._http()
        if http is None:
            cls._local().delete(name, recursive)
            return
        _check(name)
        http.call("DELETE", "object", name, recursive="1" if recursive else "")

    @classmethod
    def url(cls, name: str, path_only: bool = True) -> str:
        """Where the object is served (the service's address; it asks for the token)."""
        _check(name)
        http = cls._http()
        query = urllib.parse.urlencode({"name": name})
        if http is None:
            path = cls._local().path(name)
            return str(path) if path_only else path.as_uri()
        return f"{http.url}/v1/object/{cls._scope}?{query}"

    # -- Conducto's checksum cache: a folder saved as one tar.gz object ----------------------
    @classmethod
    def cache_exists(cls, name: str, checksum: str) -> bool:
        return cls.exists(f"{_CACHE}/{name}/{checksum}.tar.gz")

    @classmethod
    def clear_cache(cls, name: str, checksum: str | None = None) -> None:
        if checksum is None:
            for found in cls.list(f"{_CACHE}/{name}/"):
                cls.delete(found)
        else:
            cls.delete(f"{_CACHE}/{name}/{checksum}.tar.gz")

    @classmethod
    def save_cache(cls, name: str, checksum: str, save_dir: str) -> None:
        """Save the folder `save_dir` (under its own name) as the cache `name`/`checksum`."""
        with tempfile.TemporaryDirectory() as tmp:
            archive = os.path.join(tmp, "cache.tar.gz")
            with tarfile.open(archive, "w:gz") as tar:
                tar.add(save_dir, arcname=os.path.basename(os.path.normpath(save_dir)))
            cls.put(f"{_CACHE}/{name}/{checksum}.tar.gz", archive)

    @classmethod
    def restore_cache(cls, name: str, checksum: str, restore_dir: str) -> None:
        """Unpack the cache `name`/`checksum` into `restore_dir`; DataNotFound if none."""
        with tempfile.TemporaryDirectory() as tmp:
            archive = os.path.join(tmp, "cache.tar.gz")
            cls.get(f"{_CACHE}/{name}/{checksum}.tar.gz", archive)
            with tarfile.open(archive) as tar:
                if hasattr(tarfile, "data_filter"):  # nothing lands outside restore_dir
                    tar.extractall(restore_dir, filter="data")
                else:  # pragma: no cover - Pythons before the filters
                    tar.extractall(restore_dir)


def _check(name: object) -> None:
    """Refuse a bad name before any request (the service checks again)."""
    if not isinstance(name, str) or not name or "\0" in name:
        raise DataError(f"bad object name {name!r}: a non-empty str with no NUL byte")
    if name.startswith("/") or ".." in name.replace("\\", "/").split("/"):
        raise DataError(f"object name {name!r} must stay inside its scope (no `..`, not absolute)")


class pipeline(_Data):
    """Data kept for one pipeline run (co.temp_data)."""

    _scope = "pipeline"


class user(_Data):
    """Data a user's pipelines share across runs (co.perm_data)."""

    _scope = "user"


#: Conducto's older names for the two scopes.
temp_data, perm_data = pipeline, user
