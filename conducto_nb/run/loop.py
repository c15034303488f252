"""The one background event loop of a process, in a daemon thread.

Pipelines run here and never on the kernel's own loop: the docker SDK and sqlite block, and a
notebook's kernel must stay usable while a pipeline runs. Nothing on this thread prints (in
ipykernel 7 a thread's output would land in whichever cell runs): errors are kept, not shown.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["BackgroundLoop", "background_loop"]

T = TypeVar("T")
log = logging.getLogger("conducto_nb")
log.addHandler(logging.NullHandler())


class BackgroundLoop:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.loop.set_exception_handler(self._keep_error)
        self.errors: list[dict[str, Any]] = []
        ready = threading.Event()
        self.thread = threading.Thread(
            target=self._main, args=(ready,), name="conducto_nb-scheduler", daemon=True
        )
        self.thread.start()
        ready.wait()

    def _main(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(ready.set)
        self.loop.run_forever()

    def _keep_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        self.errors.append(context)
        log.debug("background loop error: %s", context.get("message"))

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule `coro` on the loop from any thread."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(*args)` on the loop thread and return its result (from another thread)."""
        if threading.current_thread() is self.thread:
            return fn(*args)

        async def wrapper() -> T:
            return fn(*args)

        return self.submit(wrapper()).result()

    @property
    def in_loop(self) -> bool:
        return threading.current_thread() is self.thread


_instance: BackgroundLoop | None = None
_lock = threading.Lock()


def background_loop() -> BackgroundLoop:
    """The process's loop, started on first use."""
    global _instance
    with _lock:
        if _instance is None:
            _instance = BackgroundLoop()
        return _instance
