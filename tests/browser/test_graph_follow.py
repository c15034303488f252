"""A graph shown for a tree follows a run started from another cell, in a real JupyterLab; and
a node's result shows as escaped HTML with its state chip."""

from __future__ import annotations

import re
from typing import Any

from lab_kit import Lab, Notebook, colour, shot

IMPORT = "import conducto_nb as co\n"


def test_a_tree_cell_follows_a_start_from_the_next_cell(page: Any, lab: Lab) -> None:
    nb = Notebook(
        page,
        lab,
        [
            IMPORT + "with co.Serial() as root:\n"
            "    co.Exec('sleep 1.5; echo \"<script>window.pwned=1</script>\"', name='a')\n"
            "    co.Exec('echo b', name='b')\n"
            "root",
            "run = root.start(backend='local')",
            "run.wait(60)\nrun['/a']",
        ],
    ).open()
    nb.run(0)
    first = page.locator(".jp-Notebook .jp-Cell").nth(0)
    first.locator(".co-title:has-text('not run yet')").wait_for()
    nb.wait_state("/a", "pending")
    nb.record_states()
    nb.run(1)  # the second cell starts the tree: the first cell's graph turns into the run
    # ("not run yet" has "run " in it too: wait for a title that starts with it)
    first.locator(".co-title", has_text=re.compile(r"^run ")).wait_for()
    assert first.locator(".co-start").is_hidden(), "no ▶ button on a run"
    nb.wait_state("/a", "running")
    nb.wait_state("/b", "done", timeout=40)
    nb.wait_state("/", "done")
    assert nb.fill("/b") == colour("done")
    seen = nb.seen_states()
    assert seen["/a"][0] == "p" and seen["/a"][-2:] == ["r", "d"], seen
    assert page.locator(".co-graph").count() == 1, "the second cell shows nothing"
    shot(page, "tree-cell-follows-run")

    nb.run(2)  # a node's result: static HTML, its output escaped
    result = page.locator(".jp-Notebook .jp-Cell").nth(2).locator(".jp-RenderedHTMLCommon")
    result.wait_for()
    text = result.inner_text()
    assert "<script>window.pwned=1</script>" in text and "done" in text and "/a" in text
    assert page.evaluate("window.pwned") is None
    shot(page, "node-result-html")
