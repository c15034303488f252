"""The REST endpoints of the lab extension under `/conducto-nb/`, behind Jupyter's own auth
(`@tornado.web.authenticated`; POSTs checked for xsrf by Jupyter as any API call). The store
and the control channel block, so every answer is computed on a worker thread and the
server's loop stays free. Bad input gets a JSON `{"error": ...}` with 400 or 404, never a
traceback.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

from ..errors import NodeNotFound, PipelineError, PipelineNotFound
from . import actions, debug_hook, views

__all__ = ["ROUTE", "setup_handlers"]

ROUTE = "conducto-nb"
_ID = r"(?P<pipeline_id>[^/]+)"


class _Handler(APIHandler):
    """Answers with what `compute` returns, or a JSON error a user can read."""

    async def answer(self, compute: Callable[..., Any], *args: Any) -> None:
        try:
            result = await asyncio.to_thread(compute, *args)
        except (PipelineNotFound, NodeNotFound) as e:
            self._error(404, e)
            return
        except PipelineError as e:
            self._error(400, e)
            return
        self.finish(json.dumps(result))

    def _error(self, status: int, error: Exception) -> None:
        self.set_status(status)
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        self.finish(json.dumps({"error": str(message)}))

    def body(self) -> dict[str, Any]:
        """The request's JSON object (400 when it is not one)."""
        try:
            value = json.loads(self.request.body or b"{}")
        except json.JSONDecodeError as e:
            raise _BadRequest(f"the body is not JSON: {e}") from None
        if not isinstance(value, dict):
            raise _BadRequest("the body must be a JSON object")
        return value

    def arg(self, name: str, default: str | None = None) -> str:
        value = self.get_query_argument(name, default)
        if value is None:
            raise _BadRequest(f"`{name}` is missing")
        return str(value)


class _BadRequest(PipelineError):
    """A request the endpoint cannot read: answered 400."""


class PipelinesHandler(_Handler):
    @tornado.web.authenticated
    async def get(self) -> None:
        await self.answer(views.pipelines, self._kernel_pids())

    def _kernel_pids(self) -> set[int]:
        """The processes of this server's kernels: a pipeline one of them owns is a
        notebook's here, which its own cell shows (the page does not announce its end)."""
        manager, pids = self.kernel_manager, set()
        for kernel_id in manager.list_kernel_ids():
            provisioner = getattr(manager.get_kernel(kernel_id), "provisioner", None)
            pid = getattr(getattr(provisioner, "process", None), "pid", None)
            if isinstance(pid, int):
                pids.add(pid)
        return pids


class PipelineHandler(_Handler):
    @tornado.web.authenticated
    async def get(self, pipeline_id: str) -> None:
        await self.answer(views.graph, pipeline_id)


class DetailHandler(_Handler):
    @tornado.web.authenticated
    async def get(self, pipeline_id: str) -> None:
        try:
            path = self.arg("path")
        except _BadRequest as e:
            self._error(400, e)
            return
        await self.answer(views.node_detail, pipeline_id, path)


class ImageHandler(_Handler):
    @tornado.web.authenticated
    async def get(self, pipeline_id: str) -> None:
        try:
            key = self.arg("key")
        except _BadRequest as e:
            self._error(400, e)
            return
        await self.answer(views.image_detail, pipeline_id, key)


class TimelineHandler(_Handler):
    @tornado.web.authenticated
    async def get(self, pipeline_id: str) -> None:
        await self.answer(views.timeline, pipeline_id)


class ActHandler(_Handler):
    @tornado.web.authenticated
    async def post(self, pipeline_id: str) -> None:
        try:
            body = self.body()
            action, path = str(body.get("action") or ""), str(body.get("path") or "/")
        except _BadRequest as e:
            self._error(400, e)
            return
        await self.answer(actions.act, pipeline_id, action, path, body)


class DebugHandler(_Handler):
    @tornado.web.authenticated
    async def post(self, pipeline_id: str) -> None:
        try:
            path = str(self.body().get("path") or "")
        except _BadRequest as e:
            self._error(400, e)
            return
        await self.answer(debug_hook.start, pipeline_id, path)


def setup_handlers(web_app: Any) -> None:
    """Add the endpoints to the server's application, under its base URL."""
    base = url_path_join(web_app.settings["base_url"], ROUTE, "pipelines")
    one = url_path_join(base, _ID)
    web_app.add_handlers(
        ".*$",
        [
            (base, PipelinesHandler),
            (one, PipelineHandler),
            (url_path_join(one, "detail"), DetailHandler),
            (url_path_join(one, "image"), ImageHandler),
            (url_path_join(one, "timeline"), TimelineHandler),
            (url_path_join(one, "act"), ActHandler),
            (url_path_join(one, "debug"), DebugHandler),
        ],
    )
