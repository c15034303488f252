"""A JupyterLab WITH a token, with the lab extension's two halves enabled from this checkout
(the server extension in its config, the committed build on its labextensions path), so
nothing depends on a global install; and what a user does there: the command palette, the
Pipelines panel. Its fixtures are imported by the test modules that use them."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from lab_kit import Lab, artifacts, jupyter_lab, missing

REPO = Path(__file__).parents[2]
CLI = [sys.executable, "-m", "conducto_nb.cli"]
SETTINGS: dict[str, dict[str, Any]] = {
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    # the terminal's text in the DOM (xterm's accessibility tree), where a test can read it
    "@jupyterlab/terminal-extension/plugin": {"screenReaderMode": True},
}


@dataclass
class TokenLab(Lab):
    """A JupyterLab that wants its token, as a real one does."""

    token: str = ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """The store the server, its kernels and the CLI runs of this test share."""
    return tmp_path / "home"


@pytest.fixture
def token_lab(tmp_path: Path, home: Path) -> Iterator[TokenLab]:
    """JupyterLab with a token, the extension's two halves enabled from this checkout."""
    if shutil.which("jupyter-lab", path=str(Path(sys.executable).parent)) is None:
        missing("jupyterlab is missing: pip install 'conducto_nb[lab,test]'")
    dirs = {name: tmp_path / name for name in ("settings", "workspaces", "config", "runtime")}
    for d in dirs.values():
        d.mkdir()
    for plugin, values in SETTINGS.items():
        path = dirs["settings"] / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    # Lab serves an extension from a folder named as its package: link the committed build.
    extensions = tmp_path / "labextensions"
    extensions.mkdir()
    (extensions / "conducto-nb-lab").symlink_to(REPO / "conducto_nb" / "lab" / "labextension")
    config = {
        "ServerApp": {"jpserver_extensions": {"conducto_nb.lab": True}},
        "LabApp": {"extra_labextensions_path": [str(extensions)]},
    }
    (dirs["config"] / "jupyter_server_config.json").write_text(json.dumps(config))
    root = tmp_path / "nb"
    root.mkdir()
    token = secrets.token_hex(16)
    port = _free_port()
    env = {
        **os.environ,
        "CONDUCTO_NB_HOME": str(home),
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        "JUPYTERLAB_SETTINGS_DIR": str(dirs["settings"]),
        "JUPYTERLAB_WORKSPACES_DIR": str(dirs["workspaces"]),
        "JUPYTER_CONFIG_DIR": str(dirs["config"]),
        "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]),
        "PYTHONWARNINGS": "ignore",
    }
    log = tmp_path / "lab.log"
    auth = [f"--IdentityProvider.token={token}"]
    try:
        with jupyter_lab(root, log, env, port, auth, token) as url:
            yield TokenLab(url, root, log, token)
    finally:
        shutil.copy(log, artifacts() / "lab-extension-server.log")


@pytest.fixture
def lab_page(browser: Any, token_lab: TokenLab, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(120_000)
    try:
        # Logged in by the token once: the cookie carries it to every later page.
        page.goto(f"{token_lab.url}/lab?token={token_lab.token}")
        yield page
    finally:
        try:
            page.screenshot(path=str(artifacts() / f"{request.node.name}.png"), full_page=True)
        finally:
            context.close()


def palette(page: Any, label: str, focus: Any) -> None:
    """Run a command from the command palette as a user does, with `focus` (a locator) in
    front: click it, Ctrl+Shift+C, type, pick the command."""
    focus.click()
    page.keyboard.press("Control+Shift+C")
    box = page.locator(".lm-CommandPalette-input")
    box.wait_for()
    box.fill(label)
    page.locator(".lm-CommandPalette-item", has_text=label).first.click()


def item(page: Any, name: str) -> Any:
    return page.locator("#conducto-nb-pipelines .co-lab-item", has_text=name)
