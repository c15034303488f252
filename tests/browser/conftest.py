"""End-to-end tests of the graph widget: a real JupyterLab server, a real kernel and headless
Chromium, kept apart as tests/docker is.

Chromium is Debian's (`/usr/bin/chromium`, or $CONDUCTO_NB_CHROMIUM), driven by Python
playwright through `executable_path`: `playwright install` is never needed. Each test gets its
own JupyterLab server with its own settings, workspaces, config and runtime directories (news
and update checks off, notebook windowing off so every cell is in the DOM); a test may add
settings (`@pytest.mark.lab_settings({...})`). Without chromium, jupyterlab or playwright the
tests are SKIPPED, except under CI (the `CI` variable set), where that is an error. Each test
leaves a screenshot in test-artifacts/browser/ (gitignored), pass or fail.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lab_kit import Lab, artifacts, jupyter_lab, missing

CHROMIUM = os.environ.get("CONDUCTO_NB_CHROMIUM", "/usr/bin/chromium")
HERE = Path(__file__).parent
BASE_SETTINGS: dict[str, dict[str, Any]] = {
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/kernels-settings": {"commsOverSubshells": "perCommTarget"},
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "browser: needs JupyterLab and Chromium (an error, not a skip, when CI is set)"
    )
    config.addinivalue_line("markers", "lab_settings(dict): settings for this test's JupyterLab")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.browser)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _write_settings(where: Path, settings: dict[str, dict[str, Any]]) -> None:
    for plugin, values in settings.items():
        path = where / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


@pytest.fixture
def lab(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Lab]:
    """A JupyterLab server of this test's own, serving `tmp_path / "nb"`."""
    if shutil.which("jupyter-lab", path=str(Path(sys.executable).parent)) is None:
        missing("jupyterlab is missing: pip install 'conducto_nb[lab,test]'")
    settings = {**BASE_SETTINGS}
    for mark in request.node.iter_markers("lab_settings"):
        for plugin, values in mark.args[0].items():
            settings[plugin] = {**settings.get(plugin, {}), **values}
    dirs = {name: tmp_path / name for name in ("settings", "workspaces", "config", "runtime")}
    for d in dirs.values():
        d.mkdir()
    _write_settings(dirs["settings"], settings)
    root = tmp_path / "nb"
    root.mkdir()
    port = _free_port()
    env = {
        **os.environ,
        "JUPYTERLAB_SETTINGS_DIR": str(dirs["settings"]),
        "JUPYTERLAB_WORKSPACES_DIR": str(dirs["workspaces"]),
        "JUPYTER_CONFIG_DIR": str(dirs["config"]),
        "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]),
        "PYTHONWARNINGS": "ignore",  # the server's own deprecation chatter is not under test
    }
    log = tmp_path / "lab.log"
    auth = [
        "--ServerApp.token=",
        "--ServerApp.password=",
        "--ServerApp.disable_check_xsrf=True",
    ]
    with jupyter_lab(root, log, env, port, auth) as url:
        yield Lab(url, root, log)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium for one module's tests. Not for the session: playwright's sync API keeps an
    event loop running in the main thread while it is open, and a later module of the same
    worker (tests/test_runner.py's asyncio.run) must find none."""
    if not Path(CHROMIUM).exists():
        missing(f"no Chromium at {CHROMIUM}: apt-get install chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("playwright is missing: pip install 'conducto_nb[test]'")
    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any, lab: Lab, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh page (its own context); a screenshot of it is kept when the test ends."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(90_000)  # a generous deadline: a loaded machine is slow, never wrong
    try:
        yield pg
    finally:
        try:
            pg.screenshot(path=str(artifacts() / f"{request.node.name}.png"), full_page=True)
        finally:
            context.close()
