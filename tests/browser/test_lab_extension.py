"""The JupyterLab extension in a real JupyterLab WITH a token, in headless Chromium: the
Pipelines panel lists a pipeline run from a notebook and one run from the CLI, a live state
change shows, a pipeline's tab draws the widget's graph, and "Rerun failed nodes" from the
command palette reruns it. The extension is enabled explicitly (server extension in the
config, the committed build on the labextensions path), so nothing depends on a global
install.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from lab_kit import Lab, Notebook, artifacts, missing, shot

REPO = Path(__file__).parents[2]
CLI = [sys.executable, "-m", "conducto_nb.cli"]
SETTINGS: dict[str, dict[str, Any]] = {
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
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
    args = [
        str(Path(sys.executable).parent / "jupyter-lab"),
        "--no-browser",
        f"--port={port}",
        "--ServerApp.ip=127.0.0.1",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--allow-root",
    ]
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"jupyter lab did not start:\n{log.read_text()[-3000:]}"
                    ) from None
                time.sleep(0.1)
        yield TokenLab(url, root, log, token)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
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


def test_the_panel_lists_notebook_and_cli_runs_live_and_the_palette_reruns(
    lab_page: Any, token_lab: TokenLab, home: Path, tmp_path: Path
) -> None:
    page = lab_page
    from playwright.sync_api import expect

    expect.set_options(timeout=120_000)  # a bound on a broken run, never a speed target

    # A pipeline run from a notebook's kernel (the server's environment: the same store).
    nb = Notebook(
        page,
        token_lab,
        [
            "import conducto_nb as co\n"
            "with co.Serial(title='nb-demo') as root:\n"
            "    co.Exec('echo from-notebook', name='hi')\n"
            "run = root.start(backend='local')\n"
            "run.wait(120)\n"
            "run.state"
        ],
    ).open()
    nb.run(0)
    palette(page, "Open the Pipelines Panel", page.locator(".jp-Notebook .jp-Cell").first)
    notebook_run = item(page, "nb-demo")
    expect(notebook_run).to_have_attribute("data-state", "done")

    # One from the CLI, held at a gate: the panel shows it running, then failed.
    gate, fixed = tmp_path / "go", tmp_path / "fixed"
    script = tmp_path / "pipe.py"
    script.write_text(
        "import conducto_nb as co\n"
        "with co.Serial(title='cli-demo') as root:\n"
        f"    co.Exec('until test -f {gate}; do sleep 0.05; done', name='wait')\n"
        f"    co.Exec('test -f {fixed}', name='check')\n"
    )
    env = {**os.environ, "CONDUCTO_NB_HOME": str(home)}
    cli = subprocess.Popen(
        [*CLI, "run", str(script), "--backend", "local"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        cli_run = item(page, "cli-demo")
        expect(cli_run).to_have_attribute("data-state", "running")
        status = page.locator(".co-lab-status")
        expect(status).to_have_text("Pipelines: 1 running, 0 failed")
        gate.touch()
        expect(cli_run).to_have_attribute("data-state", "error")  # live: nobody reloaded
        expect(cli_run).to_contain_text("1 done")
        expect(cli_run).to_contain_text("1 error")
        ended = page.get_by_text(re.compile(r"pipeline cli-demo \(\w+-\w+\) ended error"))
        expect(ended).to_be_visible()  # the notification of a run this page saw running
        assert cli.wait(timeout=120) == 1
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    page.locator("#conducto-nb-pipelines .co-lab-filter").select_option("error")
    expect(notebook_run).to_have_count(0)
    expect(cli_run).to_have_count(1)
    shot(page, "lab-panel-filtered")

    # Its tab: the widget's graph, the failed node as the widget shows it.
    cli_run.click()
    pipeline_id = cli_run.get_attribute("data-pipeline")
    tab = page.locator(f".co-lab-graph[data-pipeline='{pipeline_id}']")
    check = tab.locator(".co-item[data-path='/check']")
    expect(check).to_have_attribute("data-state", "e")
    expect(tab.locator(".co-item[data-path='/wait']")).to_have_attribute("data-state", "d")
    shot(page, "lab-graph-tab")

    # Fixed: "Rerun failed nodes" from the palette, with the tab in front.
    fixed.touch()
    palette(page, "Rerun Failed Nodes of a Pipeline", tab.locator(".co-header"))
    expect(page.get_by_text(f"rerun {pipeline_id}: ok")).to_be_visible()  # its notification
    expect(tab).to_be_visible()  # the rerun was of the tab in front
    expect(check).to_have_attribute("data-state", "d")
    page.locator("#conducto-nb-pipelines .co-lab-filter").select_option("")
    expect(cli_run).to_have_attribute("data-state", "done")
    expect(notebook_run).to_have_count(1)
    shot(page, "lab-rerun-from-palette")
    with pytest.raises(urllib.error.HTTPError) as refused:  # the page had the token; this not
        urllib.request.urlopen(f"{token_lab.url}/conducto-nb/pipelines", timeout=30)
    refused.value.close()
    assert refused.value.code == 403


def test_stop_from_the_palette_asks_which_running_pipeline_and_kills_it(
    lab_page: Any, token_lab: TokenLab, home: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=120_000)
    page = lab_page
    script = tmp_path / "pipe.py"
    script.write_text(
        "import conducto_nb as co\n"
        "with co.Serial(title='long-one') as root:\n"
        f"    co.Exec('until test -f {tmp_path / 'never'}; do sleep 0.05; done', name='wait')\n"
    )
    env = {**os.environ, "CONDUCTO_NB_HOME": str(home)}
    cli = subprocess.Popen(
        [*CLI, "run", str(script), "--backend", "local"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        page.locator(".jp-LauncherCard").first.wait_for()
        palette(page, "Open the Pipelines Panel", page.locator(".jp-Launcher"))
        run = item(page, "long-one")
        expect(run).to_have_attribute("data-state", "running")
        palette(page, "Stop a Pipeline", page.locator(".jp-Launcher"))
        dialog = page.locator(".jp-Dialog", has_text="Which pipeline?")
        expect(dialog.locator("select")).to_contain_text("long-one (running)")
        dialog.locator(".jp-mod-accept").click()
        expect(run).to_have_attribute("data-state", "error")
        expect(run).to_contain_text("1 killed")
        assert cli.wait(timeout=120) != 0  # the CLI that ran it saw it killed
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    shot(page, "lab-stopped-from-palette")
