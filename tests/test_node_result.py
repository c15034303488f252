"""`run["/x"]` as a cell's output: HTML with the path, a state chip in the graph's colours, exit
code, attempts and the last lines of each stream, everything from the node escaped; the text
form for terminals. Pipelines run for real on the local backend."""

from __future__ import annotations

import re

from IPython.lib.pretty import pretty

import conducto_nb as co
from conducto_nb.widget.encode import COLOURS
from conducto_nb.widget.result_view import LINE_CHARS, TAIL_LINES, tail

NOISY = (
    "echo '<script>alert(1)</script>'; "
    "for i in $(seq 1 100); do echo out-$i; done; "
    "for i in $(seq 1 45); do echo err-$i >&2; done; "
    "exit 3"
)


def test_tail_keeps_the_last_lines_and_counts_the_rest() -> None:
    assert tail("") == ([], 0)
    assert tail("a\nb\n") == (["a", "b"], 0)
    assert tail("a\nb") == (["a", "b"], 0)
    text = "".join(f"{i}\n" for i in range(1, 101))
    lines, hidden = tail(text)
    assert hidden == 100 - TAIL_LINES and lines == [str(i) for i in range(61, 101)]
    exact = "".join(f"{i}\n" for i in range(TAIL_LINES))
    assert tail(exact)[1] == 0 and len(tail(exact)[0]) == TAIL_LINES
    long_line, _ = tail("x" * (LINE_CHARS + 1000))
    assert long_line == ["x" * LINE_CHARS + "… (1,000 more characters)"]


def test_the_html_escapes_output_and_bounds_it() -> None:
    with co.Serial() as root:
        co.Exec(NOISY, name="noisy")
    run = root.run()
    page = run["/noisy"]._repr_html_()
    assert "alert(1)" not in page, "the <script> line is the 101st from the end: cut"
    assert "out-100" in page and "out-61" in page and "out-60\n" not in page
    assert "… 61 more lines" in page  # 101 lines of stdout, 40 shown
    assert "err-45" in page and "err-6" in page and "err-5\n" not in page
    assert "… 5 more lines" in page
    assert COLOURS["error"] in page and "exit 3" in page and "/noisy" in page
    assert "live view" in page, "says the graph is the live view"
    assert len(page) < 20_000


def test_a_script_in_a_short_output_and_in_a_message_is_escaped() -> None:
    with co.Serial() as root:
        co.Exec("echo '<script>alert(1)</script>'; echo '<b>bold</b>' >&2", name="x<y>")
    run = root.run()
    page = run["/x<y>"]._repr_html_()
    assert "<script>" not in page and "<b>bold" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;b&gt;bold" in page
    assert "/x&lt;y&gt;" in page and COLOURS["done"] in page


def test_attempts_and_a_container() -> None:
    with co.Serial(stop_on_error=False) as root:
        co.Exec("test -f marker || { touch marker; echo first >&2; exit 1; }", name="flaky")
        co.Exec("true", name="fine")
    run = root.run(backend="local")
    run.rerun().wait(30)
    result = run["/flaky"]
    page = result._repr_html_()
    assert len(re.findall(r"<tr>", page)) == 3, "a header and two attempts"
    assert COLOURS["error"] in page and COLOURS["done"] in page
    assert repr(result).endswith(", 2 attempts>")
    top = run["/"]._repr_html_()
    assert "its Execs: 2 done" in top and "<table" not in top


def test_the_text_form_for_terminals() -> None:
    with co.Serial() as root:
        co.Exec(NOISY, name="noisy")
    run = root.run()
    text = pretty(run["/noisy"])
    first, *rest = text.splitlines()
    assert first == repr(run["/noisy"]) and first.startswith("<NodeResult /noisy error exit 3")
    assert "  attempt 1: error exit 3" in rest[0]
    assert "stdout: (… 86 more lines above)" in text and "  out-100" in text
    assert "stderr: (… 30 more lines above)" in text and "  err-45" in text
    assert pretty([run["/noisy"]]).count("\n") > 10  # in a list too, each in full
