"""The JupyterLab extension in a real JupyterLab WITH a token, in headless Chromium: the
Pipelines panel lists a pipeline run from a notebook and one run from the CLI, a live state
change shows, a pipeline's tab draws the widget's graph, and "Rerun failed nodes" from the
command palette reruns it. The extension is enabled explicitly (server extension in the
config, the committed build on the labextensions path), so nothing depends on a global
install.
"""

from __future__ import annotations

import os
import re
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import lab_ext_kit as kit
import pytest
from lab_ext_kit import CLI, TokenLab, item, palette
from lab_kit import Notebook, shot

# This module's fixtures: a JupyterLab with a token and the extension, a page logged in to it.
home, token_lab, lab_page = kit.home, kit.token_lab, kit.lab_page


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
