"""The data service's HTTP side (aiohttp): the requests of the table in service.py, answered
for the pipeline whose token comes with them. Imported only once a node connects (aiohttp
takes a tenth of a second to import, which a run that never touches co.data should not pay).
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

from aiohttp import web

from .store import CHUNK, DataError, DataNotFound, Scope, scope

if TYPE_CHECKING:
    from .service import DataService

__all__ = ["serve"]


async def serve(service: DataService) -> web.AppRunner:
    """An app answering for `service`, set up; its sites are the service's sockets."""
    app = web.Application(client_max_size=0)  # bodies are streamed, never held whole
    app.router.add_route("*", "/v1/{op}/{scope}", _Handler(service).handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    return runner


async def add_socket(runner: web.AppRunner, sock: object) -> None:
    await web.SockSite(runner, sock).start()  # type: ignore[arg-type]


class _Handler:
    def __init__(self, service: DataService) -> None:
        self.home, self.tokens = service.home, service.tokens

    async def handle(self, request: web.Request) -> web.StreamResponse:
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
