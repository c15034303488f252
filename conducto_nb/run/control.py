"""Acting on a pipeline from any process: the owner's control socket and its client.

Each process that runs pipelines listens on one Unix socket (mode 0600, in a 0700 directory)
whose address it records in the store with its lease (pid, boot id, heartbeat). The CLI,
another kernel or the lab extension send one JSON line — `{"pipeline": ID, "action": "kill",
"path": "/test"}` — and read one back: `{"ok": true}` or `{"ok": false, "error": "..."}`.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import ActionError, PipelineError

__all__ = ["ControlServer", "NotOwner", "request", "socket_path"]

HEARTBEAT_EVERY = 2.0
MAX_REQUEST = 64 * 1024


def socket_path(home: Path) -> Path:
    """Where this process listens: under `home`, or a short temp path when that is too long
    for a Unix socket address (108 bytes)."""
    path = home / "control" / f"{os.getpid()}.sock"
    if len(str(path)) > 100:
        path = Path(tempfile.gettempdir()) / f"conducto_nb-{os.getuid()}" / f"{os.getpid()}.sock"
    return path


class NotOwner(ActionError):
    """The process asked no longer runs that pipeline (it let it go): read the store again."""


# handler(pipeline_id, action, path, args) -> awaitable or None; raises PipelineError to refuse
Handler = Callable[[str, str, str, dict[str, Any]], Any]


class ControlServer:
    """The owner side; runs on the background loop."""

    def __init__(self, path: Path, handler: Handler, heartbeat: Callable[[], None]) -> None:
        self.path, self.handler, self.heartbeat = path, handler, heartbeat
        self._server: asyncio.AbstractServer | None = None
        self._beat: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.path.parent, 0o700)
        self.path.unlink(missing_ok=True)
        self._server = await asyncio.start_unix_server(self._serve, path=str(self.path))
        os.chmod(self.path, 0o600)
        self._beat = asyncio.get_running_loop().create_task(self._heartbeats())

    async def _heartbeats(self) -> None:
        while True:
            self.heartbeat()
            await asyncio.sleep(HEARTBEAT_EVERY)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 10)
            reply: dict[str, Any] = {"ok": True}
            try:
                req = json.loads(line[:MAX_REQUEST])
                if not isinstance(req, dict):
                    raise ValueError("request must be a JSON object")
                pipeline, action = str(req.get("pipeline", "")), str(req.get("action", ""))
                args = req.get("args") or {}
                if not isinstance(args, dict):
                    raise ValueError("args must be a JSON object")
                result = self.handler(pipeline, action, str(req.get("path", "/")), args)
                if asyncio.iscoroutine(result):
                    await result
            except NotOwner as e:
                reply = {"ok": False, "error": str(e), "not_owner": True}
            except PipelineError as e:
                reply = {"ok": False, "error": str(e)}
            except (ValueError, TypeError) as e:
                reply = {"ok": False, "error": f"bad request: {e}"}
            writer.write(json.dumps(reply).encode() + b"\n")
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    async def close(self) -> None:
        if self._beat is not None:
            self._beat.cancel()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        self.path.unlink(missing_ok=True)


def request(
    address: str,
    pipeline_id: str,
    action: str,
    path: str = "/",
    timeout: float = 30,
    args: dict[str, Any] | None = None,
) -> None:
    """Ask the owner at `address` to take `action` (with JSON `args`, for modify); raises
    ActionError with its refusal."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(address)
        except OSError as e:
            raise ActionError(
                f"cannot reach the process that runs pipeline {pipeline_id} "
                f"({address}): {e.strerror or e}"
            ) from e
        message = {"pipeline": pipeline_id, "action": action, "path": path, "args": args or {}}
        sock.sendall(json.dumps(message).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    try:
        reply = json.loads(data)
    except json.JSONDecodeError:
        raise ActionError(f"the owner of pipeline {pipeline_id} gave no answer") from None
    if not reply.get("ok"):
        refusal = NotOwner if reply.get("not_owner") else ActionError
        raise refusal(str(reply.get("error", "refused")), path=None)
