""" "Debug node" in JupyterLab: from a failed node's panel in a pipeline's tab, a terminal opens
already inside that node's debug container, where the failed command ran and left its state.
It needs the debug package (conducto_nb.debug, issue 18) and a Docker daemon with the test
images; without the package it is skipped with that reason (it is not this tree's feature yet),
without Docker it fails under CI as every browser test does.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import lab_ext_kit as kit
from lab_ext_kit import CLI, item, palette
from lab_kit import docker_or_missing, shot

# This module's fixtures: a JupyterLab with a token and the extension, a page logged in to it.
home, token_lab, lab_page = kit.home, kit.token_lab, kit.lab_page

#: Whether this tree has the debug package (issue 18): the button and its terminal.
HAS_DEBUG = importlib.util.find_spec("conducto_nb.debug") is not None


def terminal_text(page: Any) -> str:
    """What the terminal in front shows (xterm's accessibility tree: lab_ext_kit's settings)."""
    return str(page.locator(".jp-Terminal .xterm-accessibility-tree").last.inner_text())


def test_debug_node_opens_a_terminal_inside_the_node_s_container(
    lab_page: Any, home: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=120_000)
    client = docker_or_missing() if HAS_DEBUG else None
    page = lab_page
    script = tmp_path / "pipe.py"
    # In the container, the failed command leaves a file; on the host, nothing.
    image = ", image='busybox:latest'" if HAS_DEBUG else ""
    command = "echo left-by-boom > /tmp/state; exit 3" if HAS_DEBUG else "exit 3"
    script.write_text(
        "import conducto_nb as co\n"
        f"with co.Serial(title='debug-me'{image}) as root:\n"
        f"    co.Exec({command!r}, name='boom')\n"
    )
    env = {**os.environ, "CONDUCTO_NB_HOME": str(home)}
    backend = "docker" if HAS_DEBUG else "local"
    ran = subprocess.run(
        [*CLI, "run", str(script), "--backend", backend],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ran.returncode == 1, ran.stdout + ran.stderr
    pipeline_id = None
    try:
        page.locator(".jp-LauncherCard").first.wait_for()
        palette(page, "Open the Pipelines Panel", page.locator(".jp-Launcher"))
        run = item(page, "debug-me")
        expect(run).to_have_attribute("data-state", "error")
        pipeline_id = run.get_attribute("data-pipeline")
        run.click()
        tab = page.locator(f".co-lab-graph[data-pipeline='{pipeline_id}']")
        tab.locator(".co-item[data-path='/boom']").click()
        panel = tab.locator(".co-panel")
        expect(panel).to_contain_text("/boom")
        expect(panel.locator("button", has_text=re.compile(r"^rerun$"))).to_be_enabled()
        debug = panel.locator("button", has_text=re.compile(r"^debug$"))
        if client is None:  # a tree without the debug package: no button that cannot work
            expect(debug).to_have_count(0)
            shot(page, "lab-no-debug-button")
            return
        debug.click()

        terminal = page.locator(".jp-Terminal").last
        expect(terminal).to_be_visible()
        expect(page.locator(".jp-Terminal .xterm-accessibility-tree").last).to_contain_text(
            "docker exec"
        )
        terminal.click()
        # Marked output: the typed line itself has no id after the marks.
        page.keyboard.type("echo HOST=$(cat /etc/hostname)=; echo STATE=$(cat /tmp/state)=\n")
        expect(page.locator(".jp-Terminal .xterm-accessibility-tree").last).to_contain_text(
            "STATE=left-by-boom="
        )
        host = re.search(r"HOST=([0-9a-f]{12})=", terminal_text(page))
        assert host is not None, terminal_text(page)
        containers = client.containers.list(filters={"label": f"conducto_nb.debug={pipeline_id}"})
        assert [c.id[:12] for c in containers] == [host.group(1)]
        shot(page, "lab-debug-terminal")
    finally:
        # The server's guard removes its debug containers when it ends; this test's go now.
        if client is not None and pipeline_id:
            label = f"conducto_nb.debug={pipeline_id}"
            for c in client.containers.list(all=True, filters={"label": label}):
                c.remove(force=True)
        if client is not None:
            client.close()
