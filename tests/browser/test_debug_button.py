"""The graph panel's debug button in a real JupyterLab, once `%load_ext conducto_nb` ran: on
a failed step it starts a debug session (its command run there, kept as it left it) and shows
the line that enters it."""

from __future__ import annotations

from typing import Any

from lab_kit import Lab, Notebook, docker_or_missing, shot

PIPELINE = (
    "import conducto_nb as co\n"
    "%load_ext conducto_nb\n"
    "with co.Serial(image='busybox:latest') as root:\n"
    "    co.Exec('echo left > state.txt; echo broke >&2; exit 5', name='step')\n"
    "run = root.start(backend={backend!r})\nrun"
)


def _failed_step(page: Any, lab: Lab, backend: str) -> Notebook:
    nb = Notebook(page, lab, [PIPELINE.format(backend=backend)]).open()
    nb.run(0)
    nb.wait_state("/step", "error")
    return nb


def test_debug_on_a_failed_local_step_shows_its_shell(page: Any, lab: Lab) -> None:
    nb = _failed_step(page, lab, "local")
    nb.node("/step").click()
    nb.wait_panel("broke")
    page.click(".co-panel .co-act-debug")
    nb.wait_panel("debug: debug a local shell: sh -c")
    assert "its command ran there and exited 5" in nb.panel_text()


def test_debug_on_a_failed_docker_step_shows_the_docker_exec_line(page: Any, lab: Lab) -> None:
    client = docker_or_missing()
    try:
        nb = _failed_step(page, lab, "docker")
        nb.node("/step").click()
        nb.wait_panel("broke")
        page.click(".co-panel .co-act-debug")
        nb.wait_panel("docker exec -it ")
        shot(page, "debug-button")
        text = nb.panel_text()
        short = text.split("docker exec -it ", 1)[1].split()[0]
        container = client.containers.get(short)
        assert container.labels["conducto_nb.debug_node"] == "/step"
        code, out = container.exec_run(["cat", "state.txt"])
        assert (code, out) == (0, b"left\n")  # as the command left it
    finally:
        client.close()
