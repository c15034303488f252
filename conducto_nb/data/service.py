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

The sockets are bound when a run starts (so the address is known and jobs can be told it), but
aiohttp is imported and the server started only when the first connection arrives (handlers.py):
a run whose nodes never use co.data never pays for it. A connection that comes before the
server waits in the listening socket's backlog until it is ready.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
from pathlib import Path
from typing import Any

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
        self._sockets: list[socket.socket] = []
        self._serving: asyncio.Task[None] | None = None
        self._runner: Any = None  # handlers.py's aiohttp AppRunner, once a node has connected

    # -- life -------------------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1") -> None:
        self._listen(host, 0)
        self.port = self._sockets[0].getsockname()[1]

    async def listen_also(self, host: str) -> None:
        """Also listen on `host` (a Docker bridge gateway), on the same port."""
        if host in self.hosts or not self._sockets:
            return
        sock = self._listen(host, self.port)
        if self._runner is not None:
            from .handlers import add_socket

            await add_socket(self._runner, sock)

    def _listen(self, host: str, port: int) -> socket.socket:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(128)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        loop = asyncio.get_running_loop()
        if self._serving is None:  # not woken yet: the first connection starts the server
            loop.add_reader(sock.fileno(), self._wake, loop)
        self._sockets.append(sock)
        self.hosts.append(host)
        return sock

    def _wake(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._serving is not None:
            return
        for sock in self._sockets:
            loop.remove_reader(sock.fileno())
        self._serving = loop.create_task(self._serve())

    async def _serve(self) -> None:
        """Import aiohttp (in a thread: the loop runs the pipeline meanwhile) and serve on
        every socket; the connections that woke it are accepted from the backlog."""
        import importlib

        try:
            module = f"{__package__}.handlers"
            handlers: Any = await asyncio.to_thread(importlib.import_module, module)
            self._runner = await handlers.serve(self)
            for sock in self._sockets:  # (one listen_also adds meanwhile is served too)
                await handlers.add_socket(self._runner, sock)
        except BaseException:
            for sock in self._sockets:  # nodes get "refused" at once, not a hung connect
                sock.close()
            raise

    async def stop(self) -> None:
        if self._serving is not None:
            with contextlib.suppress(Exception):
                await self._serving
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        loop = asyncio.get_running_loop()
        for sock in self._sockets:
            if sock.fileno() >= 0:  # (a failed start closed them already)
                loop.remove_reader(sock.fileno())
            sock.close()
        self._sockets.clear()

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
