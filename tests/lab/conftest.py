"""The lab extension's server tests: pytest-jupyter's fixtures (`jp_fetch` on a real Jupyter
server) and its hooks, which run `async def` tests on the server's loop. They are imported
here, not registered as a plugin (`pytest_plugins`), so their autouse event loop stays in this
folder: elsewhere (playwright's sync API, asyncio.run) it would be a second running loop.
"""

from __future__ import annotations

from pytest_jupyter.jupyter_server import *  # noqa: F403
