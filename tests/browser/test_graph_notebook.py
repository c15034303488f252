"""A co.Notebook's panel in a real JupyterLab (issue 19), as a user sees it: the notebook's
progress and its cells' output stream into the panel while it runs; once it ends, its executed
notebook shows rendered in the panel, in a sandboxed frame, and the save link gives the .ipynb."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lab_kit import Lab, Notebook, shot
from notebook_kit import write_notebook

STEP = (
    "import conducto_nb as co\n"
    "with co.Serial() as root:\n"
    "    co.Notebook('step.ipynb', n=41)\n"
    "run = root.start()\n"
    "run"
)


def test_the_panel_streams_the_notebook_then_renders_and_saves_it(page: Any, lab: Lab) -> None:
    go = Path(lab.root) / "go"
    write_notebook(
        Path(lab.root) / "step.ipynb",
        "print('from the step', n + 1, flush=True)",
        f"import os, time\nwhile not os.path.exists({str(go)!r}):\n    time.sleep(0.02)",
        "from IPython.display import HTML\nHTML('<b id=\"made\">a rich result</b>')",
        parameters="n = 0",
    )
    nb = Notebook(page, lab, [STEP]).open()
    nb.run(0)
    nb.wait_state("/step", "running")
    nb.node("/step").click()
    nb.wait_panel("[cell 3/4] import os, time")  # live, while cell 3 waits for the test
    assert "from the step 42" in nb.panel_text()
    assert nb.state("/step") == "r" and not page.locator(".co-notebook-frame").count()
    go.touch()
    nb.wait_state("/step", "done")
    nb.wait_panel("executed notebook")  # the panel follows the end of the attempt
    frame = page.frame_locator(".co-panel iframe.co-notebook-frame")
    frame.locator("text=from the step 42").wait_for(timeout=60_000)
    assert frame.locator("#made").inner_text() == "a rich result"  # rendered, not escaped
    assert page.locator(".co-panel iframe.co-notebook-frame").get_attribute("sandbox") == ""
    save = page.locator(".co-panel .co-notebook-save")
    assert save.inner_text() == "save step.ipynb"
    assert save.get_attribute("download") == "step.ipynb"
    saved = page.evaluate("href => fetch(href).then(r => r.text())", save.get_attribute("href"))
    assert "from the step 42" in saved and '"injected-parameters"' in saved
    shot(page, "notebook-panel")
