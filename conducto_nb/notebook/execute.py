"""Runs one notebook inside the job's own process: a local worker or a container's Python.

Standard library only at module level, and sent by value with the job (cloudpickle), so an
image needs papermill, nbclient and ipykernel, never conducto_nb. It prints a progress line
before each code cell ("[cell 3/7] ...") and streams what the kernel prints as it prints it,
so the node's output follows the notebook live. A raising cell does not raise here: the
notebook as far as it ran comes back with the error, so the host keeps it and names the cell.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import re
import signal
import sys
from typing import Any

__all__ = ["FORMAT", "NEEDS", "run_notebook"]

#: Marks what run_notebook returns, so the host knows an executed notebook from other results.
FORMAT = "conducto_nb.executed-notebook/1"
#: What the job's Python must have to run a notebook.
NEEDS = ("papermill", "nbclient", "ipykernel")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_PARAMS_COMMENT = re.compile(r"^\s*#\s*parameters\s*$", re.IGNORECASE)


def run_notebook(label: str, text: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """Execute the notebook `text` (named `label`) with `parameters` injected, in a kernel
    started in the current directory; the executed notebook and the error, if a cell raised."""
    missing = _missing()
    if missing:
        why = (
            f"{label} needs a kernel, but this Python has no {' or '.join(missing)}: give the "
            'node co.Image(..., install_pip=["papermill", "ipykernel"]) (or pip install '
            "'conducto_nb[notebook]' where it runs)"
        )
        print(why, file=sys.stderr, flush=True)
        return {"format": FORMAT, "notebook": None, "error": why}
    _data_commands()
    nbformat = importlib.import_module("nbformat")  # untyped: its calls are Any
    nb = _parameterized(nbformat.reads(text, as_version=4), parameters)
    error = _execute(nb)
    return {"format": FORMAT, "notebook": nbformat.writes(nb), "error": error}


def _data_commands() -> None:
    """The kernel gets co.data's commands (`conducto-data-pipeline gets --name N`), as a shell
    node does: conducto_nb's folder where this Python finds it (a local worker; the package a
    local daemon lends containers). The worker puts the environment back after the call."""
    spec = importlib.util.find_spec("conducto_nb")
    if not os.environ.get("CONDUCTO_DATA_URL") or spec is None:
        return
    for folder in spec.submodule_search_locations or []:
        commands = os.path.join(folder, "data", "bin")
        path = os.environ.get("PATH", os.defpath)
        if os.path.isdir(commands) and commands not in path.split(os.pathsep):
            os.environ["PATH"] = commands + os.pathsep + path
            os.environ.setdefault("CONDUCTO_DATA_PYTHON", sys.executable)
        return


def _missing() -> list[str]:
    return [name for name in NEEDS if importlib.util.find_spec(name) is None]


def _parameterized(nb: Any, parameters: dict[str, Any]) -> Any:
    """Papermill's injected-parameters cell after the `parameters` cell (tagged, or whose first
    line is `# parameters`, as Conducto read it), or after the first cell where there is none."""
    parameterize_notebook = importlib.import_module("papermill.parameterize").parameterize_notebook

    tagged = False
    for cell in nb.cells:
        tags = cell.metadata.setdefault("tags", [])
        first = cell.source.splitlines()[0] if cell.source else ""
        if cell.cell_type == "code" and "parameters" not in tags and _PARAMS_COMMENT.match(first):
            tags.append("parameters")
        tagged = tagged or "parameters" in tags
    if not parameters:
        return nb
    nb.metadata.setdefault("papermill", {})
    nb = parameterize_notebook(nb, parameters, kernel_name="python3", language="python")
    if not tagged and len(nb.cells) > 1:  # papermill puts it first: Conducto put it second
        nb.cells.insert(1, nb.cells.pop(0))
    return nb


def _execute(nb: Any) -> str | None:
    """Run every code cell in order; None, or what the first failing cell raised."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, DeadKernelError

    code = [  # numbered as in the user's notebook: the injected cell is not one of them
        i
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and "injected-parameters" not in cell.metadata.get("tags", [])
    ]
    at: dict[str, int] = {"cell": 0}

    class Streaming(NotebookClient):
        """Prints each output as the kernel sends it, as well as keeping it."""

        def output(self, outs: Any, msg: Any, display_id: Any, cell_index: int) -> Any:
            _echo(msg)
            return super().output(outs, msg, display_id, cell_index)

    def started(cell: Any, cell_index: int, **_: Any) -> None:
        if cell.cell_type != "code":
            return
        first = next((line for line in cell.source.splitlines() if line.strip()), "")
        if cell_index not in code:
            print("[injected parameters]", flush=True)
            return
        at["cell"] = code.index(cell_index) + 1
        print(f"[cell {at['cell']}/{len(code)}] {first[:100]}", flush=True)

    client = Streaming(
        nb,
        kernel_name="python3",
        timeout=None,  # the node's max_time bounds it
        startup_timeout=300,  # a kernel starting on a busy machine is not a failure
        extra_arguments=["--IPKernelApp.log_level=ERROR"],  # not its TCP warning at each start
        resources={"metadata": {"path": os.getcwd()}},
        on_cell_start=started,
    )
    previous = _stop_kernel_on_sigterm(client)
    try:
        client.execute()
    except CellExecutionError as e:
        return f"cell {at['cell']}/{len(code)} raised {e.ename}: {e.evalue}"
    except DeadKernelError:
        where = f"during cell {at['cell']}/{len(code)}" if at["cell"] else "as it started"
        return f"the kernel died {where} (out of memory? the node's mem is its limit)"
    finally:
        with contextlib.suppress(ValueError):  # not the main thread
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
    print(f"[notebook done: {len(code)} cells]", flush=True)
    return None


def _echo(msg: dict[str, Any]) -> None:
    """One output message of the kernel as the job's own output."""
    kind, content = msg.get("msg_type"), msg.get("content", {})
    if kind == "stream":
        stream = sys.stderr if content.get("name") == "stderr" else sys.stdout
        stream.write(content.get("text", ""))
        stream.flush()
    elif kind in ("execute_result", "display_data"):
        data = content.get("data", {})
        shown = data.get("text/plain") or "[" + ", ".join(sorted(data)) + "]"
        print(shown, flush=True)
    elif kind == "error":
        trace = "\n".join(content.get("traceback") or [])
        print(_ANSI.sub("", trace), file=sys.stderr, flush=True)


def _stop_kernel_on_sigterm(client: Any) -> Any:
    """A kill of the job (SIGTERM to its process group) must stop the kernel too, which
    jupyter_client starts in a session of its own: kill its group, then die as asked."""

    def stop(signum: int, frame: Any) -> None:
        pid = getattr(getattr(client.km, "provisioner", None), "pid", None)
        if isinstance(pid, int):
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    try:
        return signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread: the kernel's parent poller ends it instead
        return signal.SIG_DFL
