"""`co.nb` as in Conducto 0.1.x: `with co.nb.cell():` in a node shows that block as a cell in
its output (comments as Markdown, the code, what it printed), and `co.nb.matplotlib_inline()`
puts `plt.show()`'s figures there as inline images; the graph panel renders both."""

from __future__ import annotations

import base64
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import conducto_nb as co
from conducto_nb.widget.markdown import blocks, to_html


def report(n: int) -> None:
    print("before the cell")
    with co.nb.cell():
        # ### Totals
        # The sum of the first *n* numbers:
        total = sum(range(n))
        print(f"total = {total}")
    print("after the cell")


def plot(in_cell: bool) -> None:
    import matplotlib.pyplot as plt

    co.nb.matplotlib_inline()
    if in_cell:
        with co.nb.cell():
            # A line
            plt.plot([1, 2, 3], [3, 1, 2])
            plt.show()
    else:
        plt.plot([1, 2, 3])
        plt.figure()
        plt.plot([3, 2, 1])
        plt.show()
        plt.show()  # nothing left to show: prints nothing


def _run(func: object, *args: object, tmp_path: Path) -> co.NodeResult:
    with co.Serial() as root:
        co.Exec(func, *args, name="step")
    run = root.run(backend="local", workdir=tmp_path)
    assert run.state is co.State.DONE, run["/step"].stderr
    return run["/step"]


def test_a_cell_shows_its_comments_as_markdown_its_code_and_its_output(tmp_path: Path) -> None:
    out = _run(report, 5, tmp_path=tmp_path).stdout
    assert out.startswith("before the cell\n") and out.endswith("after the cell\n")
    (block,) = blocks(out)
    assert block == (
        "### Totals\nThe sum of the first *n* numbers:\n"
        '```python\ntotal = sum(range(n))\nprint(f"total = {total}")\n```\n'
        "total = 10\n"
    )
    html = to_html(block)
    assert "<h3>Totals</h3>" in html and "<em>n</em>" in html
    assert '<code class="language-python">total = sum(range(n))' in html


def _pngs(text: str) -> list[bytes]:
    found = re.findall(r"!\[figure \d+\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", text)
    return [base64.b64decode(data) for data in found]


def test_figures_show_inline_in_the_output_and_once(tmp_path: Path) -> None:
    out = _run(plot, False, tmp_path=tmp_path).stdout
    (block,) = blocks(out)  # one show(), one block, both figures
    pngs = _pngs(block)
    assert len(pngs) == 2 and all(p.startswith(b"\x89PNG\r\n\x1a\n") for p in pngs)
    assert '<img src="data:image/png;base64,' in to_html(block)


def test_a_figure_shown_in_a_cell_joins_that_cells_block(tmp_path: Path) -> None:
    (block,) = blocks(_run(plot, True, tmp_path=tmp_path).stdout)
    assert block.startswith("A line\n```python\nplt.plot(")
    assert len(_pngs(block)) == 1


def _script(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "script.py"
    path.write_text(textwrap.dedent(code))
    return subprocess.run([sys.executable, str(path)], capture_output=True, text=True)


def test_code_without_readable_source_still_gets_its_block(tmp_path: Path) -> None:
    done = _script(
        """
        import conducto_nb as co
        exec("with co.nb.cell():\\n    print('made by exec')\\n")
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert blocks(done.stdout) == ["\n\nmade by exec\n"]


def test_matplotlib_missing_says_what_to_install(tmp_path: Path) -> None:
    done = _script(
        """
        import sys
        sys.modules["matplotlib"] = None  # as in an image without it
        import conducto_nb as co
        co.nb.matplotlib_inline()
        """,
        tmp_path,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "ImportError: co.nb.matplotlib_inline() needs matplotlib in the node's Python "
        "(pip install matplotlib, or reqs_py=['matplotlib'] in its co.Image)"
    )


def test_conducto_names_of_the_module_are_there() -> None:
    assert co.nb.cell and co.nb.matplotlib_inline and co.nb.IN_MARKDOWN is False
    assert co.integrations.slack is co.slack
