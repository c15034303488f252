"""The data service: a small aiohttp server through which every node reaches co.data, so a
node needs no shared filesystem, only an HTTP connection to the process that owns its run.

One per process (and store home), started lazily on the process's background loop when a run
starts (`data_service()`), listening on 127.0.0.1 and, for containers of a local Docker daemon,
on the bridge network's gateway too (`listen_also`), always on the same port. Each pipeline
gets a token of its own (`token_for`); a node finds the service and its token in
$CONDUCTO_DATA_URL and $CONDUCTO_DATA_TOKEN.

Why the rules:
- The token decides the pipeline: a request names a scope ("pipeline" or "user") and an
  object, never a pipeline id, so one pipeline's token cannot reach another's data. A missing
  or unknown token is answered 401 before anything is read or written.
- A body is written to the store a chunk at a time and renamed into place only when complete
  (store.Writer): a client that dies mid-upload leaves the old object or none. A read is
  streamed from the file.
- Errors are JSON `{"error": message}` with the message the client raises (400 bad name,
  404 DataNotFound naming the scope and the name).

    GET    /v1/object/{scope}?name=N[&start=B&end=E]   the object's bytes [B, E)
    PUT    /v1/object/{scope}?name=N                   store the body as N
    DELETE /v1/object/{scope}?name=N[&recursive=1]
    GET    /v1/exists/{scope}?name=N   GET /v1/size/{scope}?name=N   GET /v1/list/{scope}?name=P
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from pathlib import Path

from aiohttp import web

from .store import CHUNK, DataError, DataNotFound, Scope, scope

__all__ = ["DataService", "data_service"]

#: A node finds the service and its pipeline's token here.
URL_ENV, TOKEN_ENV = "CONDUCTO_DATA_URL", "CONDUCTO_DATA_TOKEN"
#: The address nodes are told to reach the service at, for workers on other machines.
ADVERTISE_ENV = "CONDUCTO_NB_DATA_ADVERTISE"


class DataService:
    """The server and the tokens it accepts; lives on one event loop."""

    def __init__(self, home: Path | None = None) -> None:
        self.home = home
        self.tokens: dict[str, str] = {}  # token -> pipeline id
        self._by_pipeline: dict[str, str] = {}
        self.port = 0
        self.hosts: list[str] = []
        self._runner: web.AppRunner | None = None

    # -- life -------------------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1") -> None:
        app = web.Application(client_max_size=0)  # bodies are streamed, never held whole
        app.router.add_route("*", "/v1/{op}/{scope}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, 0)
        await site.start()
        server = site._server  # the port the system chose
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self.hosts.append(host)

    async def listen_also(self, host: str) -> None:
        """Also listen on `host` (a Docker bridge gateway), on the same port."""
        if host in self.hosts or self._runner is None:
            return
        await web.TCPSite(self._runner, host, self.port).start()
        self.hosts.append(host)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- tokens -----------------------------------------------------------------------------
    def token_for(self, pipeline_id: str) -> str:
        """The pipeline's token (the same one on every call)."""
        token = self._by_pipeline.get(pipeline_id)
        if token is None:
            token = secrets.token_urlsafe(32)
            self._by_pipeline[pipeline_id], self.tokens[token] = token, pipeline_id
        return token

    def env(self, pipeline_id: str, host: str = "127.0.0.1") -> dict[str, str]:
        """What a node of the pipeline needs to reach its data, from a machine that reaches
        this one as `host` ($CONDUCTO_NB_DATA_ADVERTISE, a host or host:port, wins)."""
        advertised = os.environ.get(ADVERTISE_ENV, "")
        where = advertised or host
        if ":" not in where.rpartition("]")[2]:
            where = f"{where}:{self.port}"
        url = where if "://" in where else f"http://{where}"
        return {URL_ENV: url, TOKEN_ENV: self.token_for(pipeline_id)}

    # -- requests ---------------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
        pipeline_id = self.tokens.get(token) if token else None
        if pipeline_id is None:
            return _error(401, "a valid CONDUCTO_DATA_TOKEN is required")
        op, kind = request.match_info["op"], request.match_info["scope"]
        name = request.query.get("name", "")
        try:
            where = scope(kind, pipeline_id, self.home)
            if op == "object":
                return await self._object(request, where, name)
            if op == "list":
                names = await asyncio.to_thread(where.list, name)
                if request.query.get("format") == "lines":  # for client.sh, which has no JSON
                    return web.Response(text="".join(f"{n}\n" for n in names))
                return web.json_response(names)
            if op in ("exists", "size") and request.method == "GET":
                value = await asyncio.to_thread(getattr(where, op), name)
                return web.json_response(value)
            return _error(404, f"no such request: {request.method} {op}")
        except DataNotFound as e:
            return _error(404, str(e))
        except DataError as e:
            return _error(400, str(e))

    async def _object(self, request: web.Request, where: Scope, name: str) -> web.StreamResponse:
        if request.method == "GET":
            start = int(request.query.get("start") or 0)
            end = int(request.query["end"]) if request.query.get("end") else None
            f = await asyncio.to_thread(where.open, name)
            try:
                response = web.StreamResponse()
                await response.prepare(request)
                f.seek(start)
                left = None if end is None else max(0, end - start)
                while left is None or left > 0:
                    data = await asyncio.to_thread(
                        f.read, CHUNK if left is None else min(CHUNK, left)
                    )
                    if not data:
                        break
                    if left is not None:
                        left -= len(data)
                    await response.write(data)
                await response.write_eof()
                return response
            finally:
                f.close()
        if request.method == "PUT":
            writer = await asyncio.to_thread(where.writer, name)
            with writer:  # never committed: the temporary file goes, the object stays
                try:
                    async for chunk in request.content.iter_chunked(CHUNK):
                        await asyncio.to_thread(writer.write, chunk)
                except ConnectionError:  # the client died mid-upload
                    return _error(400, f"the upload of {name!r} ended before its end")
                size = await asyncio.to_thread(writer.commit)
            return web.json_response({"size": size})
        if request.method == "DELETE":
            recursive = bool(request.query.get("recursive"))
            await asyncio.to_thread(where.delete, name, recursive)
            return web.json_response(None)
        return _error(405, f"{request.method} is not a data request")


def _error(status: int, message: str) -> web.Response:
    body = json.dumps({"error": message})
    return web.Response(status=status, text=body, content_type="application/json")


_STARTED: dict[tuple[int, Path | None], asyncio.Task[DataService]] = {}


async def data_service(home: Path | None = None) -> DataService:
    """This process's service for the store at `home`, started on first use on the running
    loop (the background loop of run/loop.py); runs that start together share one start."""
    loop = asyncio.get_running_loop()
    key = (id(loop), home)
    task = _STARTED.get(key)
    if task is None or (task.done() and task.exception() is not None):
        task = _STARTED[key] = loop.create_task(_start(home))
    return await asyncio.shield(task)


async def _start(home: Path | None) -> DataService:
    service = DataService(home)
    await service.start()
    return service
