"""co.Notebook (issue 19) on the local backend: real notebooks run by real kernels in the
pipeline's working directory; what the user sees of them: the injected value in the executed
copy, progress lines, the failing cell named, the kernel gone after a kill, bad input refused
at build time with one message."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from notebook_kit import is_gone, outputs_text, write_notebook
from wait_kit import wait_for

import conducto_nb as co
from conducto_nb.model.serialize import dumps, loads

CLI = [sys.executable, "-m", "conducto_nb.cli"]
pytestmark = pytest.mark.usefixtures("data_home")  # a store of its own


def test_parameters_are_injected_and_the_executed_notebook_is_the_result(tmp_path: Path) -> None:
    path = write_notebook(
        tmp_path / "greet.ipynb",
        "import os\nprint(greeting * count, 'in', os.getcwd())",
        "count + 40",
        parameters="greeting = 'hi'\ncount = 1",
    )
    with co.Serial() as root:
        co.Notebook(path, greeting="yo", count=2)
    run = root.run(backend="local")
    node = run["/greet"]
    assert node.state is co.State.DONE, node.stderr
    executed = node.notebook
    assert executed is not None
    text = outputs_text(executed.nb)
    assert "yoyo in " in text and "42" in text
    cells = executed.nb["cells"]
    tags = [c["metadata"].get("tags", []) for c in cells]
    assert "injected-parameters" in tags[2] and "parameters" in tags[1]  # right after it
    assert 'greeting = "yo"' in "".join(cells[2]["source"])
    # cell by cell progress, and what the cells printed, in the node's own output
    assert "[cell 1/3] greeting = 'hi'\n[injected parameters]\n[cell 2/3] import os" in node.stdout
    workdir = Path(os.environ["CONDUCTO_NB_HOME"]) / "work" / run.id  # the pipeline's
    assert f"yoyo in {workdir}" in node.stdout
    assert "executed notebook /greet" in repr(node.result)
    saved = executed.save(tmp_path / "out.ipynb")
    assert "yoyo" in outputs_text(json.loads(saved.read_text()))
    assert "yoyo" in executed.html() and "<html" in executed.html()


def test_without_a_parameters_cell_the_values_go_after_the_first_cell(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "plain.ipynb", "print('n is', n)")
    comment = write_notebook(
        tmp_path / "comment.ipynb", "print('m is', m)", parameters="m = 0", tag="comment"
    )
    with co.Parallel() as root:
        co.Notebook(path, n=7)
        co.Notebook(comment, m=5)
    run = root.run(backend="local")
    plain = run["/plain"].notebook
    assert plain is not None and "n is 7" in outputs_text(plain.nb)
    assert "injected-parameters" in plain.nb["cells"][1]["metadata"]["tags"]
    commented = run["/comment"].notebook
    assert commented is not None and "m is 5" in outputs_text(commented.nb)


def test_a_raising_cell_fails_the_node_naming_the_cell_and_the_exception(tmp_path: Path) -> None:
    path = write_notebook(
        tmp_path / "broken.ipynb", "x = 1", "print('before')", "x / 0", "print('never')"
    )
    with co.Serial() as root:
        co.Notebook(path)
    run = root.run(backend="local")
    node = run["/broken"]
    assert node.state is co.State.ERROR
    assert node.attempts[-1].message == "cell 3/4 raised ZeroDivisionError: division by zero"
    assert "ZeroDivisionError" in node.stderr and "----> 1 x / 0" in node.stderr
    assert "never" not in node.stdout
    kept = node.notebook  # as far as it ran, with the traceback in the cell
    assert kept is not None
    assert "ZeroDivisionError: division by zero" in outputs_text(kept.nb)


def test_cells_stream_their_output_while_the_notebook_runs(tmp_path: Path) -> None:
    go = tmp_path / "go"
    path = write_notebook(
        tmp_path / "live.ipynb",
        "print('first line', flush=True)",
        f"import os, time\nwhile not os.path.exists({str(go)!r}):\n    time.sleep(0.02)",
        "print('after the wait')",
    )
    with co.Serial() as root:
        co.Notebook(path)
    run = root.start(backend="local")
    node = run["/live"]
    wait_for(lambda: "[cell 2/3] import os, time" in node.stdout, 60, "cell 2 started")
    assert "first line\n[cell 2/3]" in node.stdout and node.state is co.State.RUNNING
    assert "after the wait" not in node.stdout
    go.touch()  # only now can cell 2 end
    wait_for(lambda: run.done, 60, "the run ended")
    assert node.stdout.endswith(
        "[cell 3/3] print('after the wait')\nafter the wait\n[notebook done: 3 cells]\n"
    )


def test_a_kernel_that_dies_fails_the_node_saying_so(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "dies.ipynb", "x = 1", "import os\nos._exit(9)")
    with co.Serial() as root:
        co.Notebook(path)
    run = root.run(backend="local")
    assert run["/dies"].state is co.State.ERROR
    assert run["/dies"].attempts[-1].message == (
        "the kernel died during cell 2/2 (out of memory? the node's mem is its limit)"
    )


def test_the_notebook_is_taken_when_the_tree_is_built(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "v.ipynb", "print('version one')")
    with co.Serial() as root:
        nb_node = co.Notebook(path, params={"cpu": 0.5, "doc": "a notebook step"})
    assert nb_node.cpu == 0.5
    text = dumps(root)
    write_notebook(path, "print('version two')")  # an edit after the run was defined
    again = loads(text)
    assert isinstance(again["/v"], co.Notebook) and dumps(again) == text
    run = again.run(backend="local")
    assert "version one" in run["/v"].stdout and "version two" not in run["/v"].stdout


def test_a_detached_owner_runs_the_notebook_it_was_given(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "far.ipynb", "print('told', word)", parameters="word = ''")
    with co.Serial() as root:
        co.Notebook(path, word="far away")
    path.unlink()  # the tree carries the notebook: the file is not needed any more
    run = root.start(detach=True, backend="local")
    run.wait(timeout=120)
    assert not run.owned_here
    assert run["/far"].state is co.State.DONE, run["/far"].stderr
    executed = run["/far"].notebook  # kept by the other process, read from co.data
    assert executed is not None and "told far away" in outputs_text(executed.nb)


def _refused(path: Path, **parameters: object) -> str:
    """The one message co.Notebook refuses `path` with: one line, no chained error after it."""
    with pytest.raises(co.CommandError) as info:
        co.Notebook(path, **parameters)
    message = str(info.value)
    assert "\n" not in message
    assert info.value.__suppress_context__ or info.value.__context__ is None
    return message


def test_bad_input_is_one_message_naming_it(tmp_path: Path) -> None:
    missing = _refused(tmp_path / "nowhere.ipynb")
    assert missing == (
        f"co.Notebook('{tmp_path}/nowhere.ipynb'): {tmp_path}/nowhere.ipynb does not exist: "
        "give the path of an .ipynb file"
    )
    assert "is a folder" in _refused(tmp_path)
    (tmp_path / "x.ipynb").write_text("print('hi')")
    assert f"{tmp_path}/x.ipynb is not a Jupyter notebook" in _refused(tmp_path / "x.ipynb")
    typo = write_notebook(tmp_path / "y.ipynb", "pass", parameters="year = 2020\nmonth = 1")
    assert _refused(typo, yeer=2021).endswith(
        "`yeer` is not a parameter of y.ipynb: its parameters cell sets `month`, `year` "
        "(did you mean `year`?); node parameters (name, image, cpu...) go in params={...}"
    )
    assert "parameter `when` is of type object" in _refused(typo, when=object())
    with pytest.raises(co.CommandError, match="takes one positional argument"):
        co.Notebook(typo, 2021)  # type: ignore[misc]


def test_kill_during_a_long_cell_stops_the_kernel(tmp_path: Path) -> None:
    pid_file = tmp_path / "kernel.pid"
    path = write_notebook(
        tmp_path / "slow.ipynb",
        f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\ntime.sleep(600)",
    )
    with co.Serial() as root:
        co.Notebook(path)
    run = root.start(backend="local")
    wait_for(lambda: pid_file.exists() and pid_file.read_text(), 60, "the kernel started")
    kernel = int(pid_file.read_text())
    assert not is_gone(kernel)
    run.kill("/slow")
    wait_for(lambda: run.done, 60, "the run ended")
    assert run["/slow"].state is co.State.KILLED
    wait_for(lambda: is_gone(kernel), 30, "the kernel process ended")


def test_max_time_stops_the_kernel(tmp_path: Path) -> None:
    pid_file = tmp_path / "kernel.pid"
    path = write_notebook(
        tmp_path / "slow.ipynb",
        f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\ntime.sleep(600)",
    )
    with co.Serial() as root:
        co.Notebook(path, params={"max_time": 15})  # a kernel starts well within it
    run = root.run(backend="local")
    assert run["/slow"].state is co.State.ERROR
    assert "max_time" in (run["/slow"].attempts[-1].message or "")
    wait_for(lambda: is_gone(int(pid_file.read_text())), 30, "the kernel process ended")


def test_the_cli_renders_and_saves_the_executed_notebook(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "report.ipynb", "print('rows:', rows)", parameters="rows = 0")
    with co.Serial() as root:
        co.Notebook(path, rows=12)
    run = root.run(backend="local")
    html, ipynb = tmp_path / "r.html", tmp_path / "r.ipynb"
    shown = subprocess.run(
        [*CLI, "show", run.id, "/report", "--html", str(html), "--ipynb", str(ipynb)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert "executed notebook: 2 code cells" in shown.stdout
    assert "rows: 12" in html.read_text()
    assert "rows: 12" in outputs_text(json.loads(ipynb.read_text()))
