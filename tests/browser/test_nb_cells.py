"""`with co.nb.cell():` in a step, as a user sees it in a real JupyterLab: the node's panel
shows the block rendered (its comments as a heading and text, its code, what it printed), with
no empty output box around it."""

from __future__ import annotations

from typing import Any

from lab_kit import Lab, Notebook, shot

PIPELINE = """import conducto_nb as co
def summarize(readings):
    import conducto_nb as co
    with co.nb.cell():
        # ### Summary
        # The mean of the station's readings:
        mean = sum(readings) / len(readings)
        print(f"mean: {mean:.2f}")

with co.Serial() as cells:
    co.Exec(summarize, [9.5, 11.0, 12.5], name="summary")
run = cells.start()
run"""


def test_a_cell_in_a_step_shows_rendered_in_its_panel(page: Any, lab: Lab) -> None:
    nb = Notebook(page, lab, [PIPELINE]).open()
    nb.run(0)
    nb.wait_state("/summary", "done")
    nb.node("/summary").click()
    nb.wait_panel("mean: 11.00")
    stdout = page.locator(".co-panel .co-stdout .co-out-text")
    stdout.locator(".co-md h3").wait_for()
    shot(page, "nb-cell")
    assert stdout.locator(".co-md h3").inner_text() == "Summary"
    assert "mean = sum(readings) / len(readings)" in stdout.locator(".co-md pre code").inner_text()
    assert "<ConductoMarkdown>" not in stdout.inner_text()
    assert stdout.locator(":scope > pre").count() == 0  # no box for the blank lines around it
