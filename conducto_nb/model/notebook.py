"""`co.Notebook("analysis.ipynb", year=2020, params={"cpu": 2})`: an Exec that runs a notebook
with parameters, as Conducto's did; the executed copy is its result.

The file is read when the node is built (notebook/source.py): its text travels inside the
node's command, hashed, so the tree's JSON, a detached owner and a rerun all run the version
the pipeline was defined with. The command is a call of notebook/execute.py's run_notebook,
sent by value so the image needs papermill and ipykernel but not conducto_nb.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import CommandError
from ..notebook import execute
from ..notebook.source import NotebookSource, read_notebook
from .execs import Command, Exec

__all__ = ["Notebook"]


class Notebook(Exec):
    """Runs the notebook at `path` with keyword arguments injected after its `parameters` cell
    (papermill's convention); `params={...}` carries node parameters (image, cpu, env...)."""

    kind = "exec"
    _ATTRIBUTES = frozenset({"command_obj", "notebook"})
    #: The notebook as the pipeline took it: file name, text, sha256.
    notebook: NotebookSource | None

    def __init__(
        self,
        path: str | Path,
        *args: Any,
        params: Mapping[str, Any] | None = None,
        **notebook_params: Any,
    ) -> None:
        if args:
            raise CommandError(
                f"co.Notebook({str(path)!r}, ...) takes one positional argument, the notebook's "
                "path; give notebook parameters as keywords and node parameters in params={...}"
            )
        source = read_notebook(path, notebook_params)
        self.notebook = source
        self._setup(None, _command(source, notebook_params), dict(params or {}))

    @classmethod
    def _of(cls, command: Command, **node_kw: Any) -> Exec:
        node = cls.__new__(cls)
        node.notebook = None  # its text is inside the command, unread until it runs
        node._setup(None, command, node_kw)
        return node

    def _default_name(self) -> str:
        return Path(self.notebook.name).stem if self.notebook else "notebook"

    def _describe(self) -> str:
        return f"Notebook: {self.command}"


def _command(source: NotebookSource, parameters: dict[str, Any]) -> Command:
    shown = " ".join(f"{k}={json.dumps(v)}" for k, v in parameters.items())
    display = f"notebook {source.short}" + (f" {shown}" if shown else "")
    call: tuple[Any, tuple[Any, ...], dict[str, Any]] = (
        execute.run_notebook,
        (source.name, source.text, dict(parameters)),
        {},
    )
    return Command(display=display, _call=call)
