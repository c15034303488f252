"""The aiohttp app GitHub posts deliveries to, and `serve`, which runs it until a signal.

    POST {prefix}/   (prefix: `--path-prefix`, for a reverse proxy that forwards /hooks/ci/)

Answers, in the order they are decided:
- 413 for a body over `max_body` bytes (read no further);
- 401 for a missing or forged `X-Hub-Signature-256`: checked on the raw body before anything
  of it is parsed, so an unsigned request costs one HMAC and tells nothing;
- 200 for `ping`; 400 for JSON that does not parse, a payload missing a field its event needs,
  a ref git would refuse, or a missing or odd `X-GitHub-Delivery`;
- 202 `no action` where the event starts nothing (no section of the cfg matches, or the event
  is one this receiver leaves to another delivery);
- 200 `duplicate` for a delivery id recorded before: a redelivery starts nothing new;
- 202 `accepted`, at once: the delivery is recorded, then runs in the background
  (dispatch.py). The webhook secret is only in memory here: never logged, never stored.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from aiohttp import web

from ...errors import PipelineError
from ...store.deliveries import Delivery
from ...store.pipelines import Store
from ..environment import check_values
from ..simulate import CFG_NAME
from .dispatch import Dispatcher
from .payload import PayloadError, map_payload
from .signature import HEADER, verify

__all__ = ["MAX_BODY", "Receiver", "serve"]

MAX_BODY = 5 * 2**20  # bytes; GitHub caps a payload at 25 MB, pushes are far smaller
_DELIVERY = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")


class Receiver:
    """The app, its dispatcher and its store, on the loop that calls `start`."""

    def __init__(
        self,
        root: Path,
        secret: bytes,
        *,
        path_prefix: str = "",
        trusted_authors: Iterable[str] = (),
        max_body: int = MAX_BODY,
        slots: int = 16,
        store: Store | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.root, self._secret, self.max_body = root, secret, max_body
        self.prefix = "/" + path_prefix.strip("/") if path_prefix.strip("/") else ""
        self.store = store or Store()
        self.trusted_authors = frozenset(trusted_authors)
        self.dispatcher = Dispatcher(root, self.store, self.trusted_authors, slots)
        self.port, self.log = 0, log
        self._runner: web.AppRunner | None = None

    @property
    def path(self) -> str:
        return self.prefix + "/"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen, then start the deliveries an earlier receiver accepted but never ran."""
        app = web.Application(client_max_size=self.max_body)
        app.router.add_post(self.path, self._handle)
        if self.prefix:
            app.router.add_post(self.prefix, self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server  # the port the system chose
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        for delivery in await asyncio.to_thread(self._resume):
            self.dispatcher.submit(delivery)

    def _resume(self) -> list[Delivery]:
        """Start what this repository's last receiver accepted but never started; what it
        left running it lost (a crash: `stop` marks them itself)."""
        repo = str(self.root)
        for lost in self.store.deliveries(10**6, state="running", repo=repo):
            why = "the receiver stopped while its command ran"
            self.store.set_delivery_state(lost.id, "interrupted", why)
        return self.store.deliveries(10**6, state="accepted", repo=repo)

    async def stop(self) -> None:
        """Stop listening, then stop the deliveries (waiting ones stay accepted)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.dispatcher.stop()

    async def _handle(self, request: web.Request) -> web.Response:
        response = await self._answer_to(request)
        if self.log is not None:  # one line per request; only names that passed a check
            said = json.loads(response.text or "{}").get("message", "")
            delivery = request.headers.get("X-GitHub-Delivery", "")
            delivery = delivery if _DELIVERY.fullmatch(delivery) else "-"
            event = re.sub(r"[^a-z_]", "", request.headers.get("X-GitHub-Event", ""))[:40]
            self.log(f"{response.status} {event or '-'} {delivery}: {said}")
        return response

    async def _answer_to(self, request: web.Request) -> web.Response:
        if (request.content_length or 0) > self.max_body:
            return _answer(413, f"the body is over {self.max_body} bytes")
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _answer(413, f"the body is over {self.max_body} bytes")
        if not verify(self._secret, body, request.headers.get(HEADER)):
            return _answer(401, f"a missing or wrong {HEADER}")
        github_event = request.headers.get("X-GitHub-Event", "")
        if github_event == "ping":
            return _answer(200, "pong", status="ok")
        delivery_id = request.headers.get("X-GitHub-Delivery", "")
        if not _DELIVERY.fullmatch(delivery_id):
            return _answer(400, "a missing or malformed X-GitHub-Delivery")
        try:
            mapped = map_payload(github_event, json.loads(body))
            check_values(mapped.values)
        except (ValueError, PayloadError, PipelineError) as e:
            why = f"the body is not JSON: {e}" if isinstance(e, json.JSONDecodeError) else str(e)
            return _answer(400, f"{github_event or 'an event'}: {why}")
        steps: list[Any] = []
        if mapped.event is not None:
            try:
                plan, fresh = self.dispatcher.plan, self.dispatcher.config.fresh()
                if fresh is not None:  # the usual case: no thread, no git
                    steps = [s for s in fresh[0].plan(mapped.event, mapped.values) if s.matches]
                else:
                    _, steps = await asyncio.to_thread(plan, mapped.event, mapped.values)
            except PipelineError as e:  # a broken cfg on the default branch: GitHub shows it
                return _answer(500, f"{CFG_NAME}: {e}", delivery=delivery_id)
        trusted = not mapped.fork or mapped.values["author"] in self.trusted_authors
        event = f"{mapped.event} event"
        state = "accepted" if steps else "no action"
        delivery = Delivery(
            delivery_id,
            time.time(),
            str(self.root),
            github_event,
            mapped.event or "",
            mapped.values,
            trusted,
            state,
            "" if steps else mapped.why_none or f"no section of {CFG_NAME} matches this {event}",
        )
        try:
            new = await asyncio.to_thread(self.store.receive, delivery)
        except PipelineError as e:  # the store is locked or broken: GitHub may redeliver
            return _answer(503, f"cannot record the delivery: {e}", delivery=delivery_id)
        if not new:
            return _answer(200, "this delivery was received before", status="duplicate")
        if not steps:
            return _answer(202, delivery.detail, status="no action", delivery=delivery_id)
        self.dispatcher.submit(delivery)
        return _answer(202, f"{mapped.event} runs", status="accepted", delivery=delivery_id)


def _answer(code: int, message: str, **extra: str) -> web.Response:
    body = {"status": "error" if code >= 400 else "", "message": message} | extra
    return web.json_response(body, status=code)


def serve(
    root: Path,
    secret: bytes,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    path_prefix: str = "",
    trusted_authors: Iterable[str] = (),
    say: Callable[[str], None] = print,
) -> None:
    """Receive deliveries until SIGINT or SIGTERM, then stop gracefully (see `Receiver.stop`)."""

    async def main() -> None:
        receiver = Receiver(
            root, secret, path_prefix=path_prefix, trusted_authors=trusted_authors, log=say
        )
        try:
            await receiver.start(host, port)
        except OSError as e:
            why = os.strerror(e.errno).lower() if e.errno else str(e)
            raise PipelineError(f"cannot listen on {host}:{port}: {why}") from None
        say(f"receiving GitHub deliveries on http://{host}:{receiver.port}{receiver.path}")
        say(f"for {root} ({CFG_NAME} from its default branch); Ctrl-C stops")
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopping.set)
        await stopping.wait()
        say("stopping: deliveries not started yet start on the next serve")
        await receiver.stop()
        receiver.store.close()

    asyncio.run(main())
