"""A notebook file as a pipeline takes it when the tree is built: its bytes read once, hashed,
and checked, so a run defined now runs this version even if the file is edited later, and a
wrong path, a file that is not a notebook or a parameter the notebook does not declare is
found at build time, with its name, instead of at run time in a kernel.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CommandError, suggest

__all__ = ["NotebookSource", "read_notebook"]

_PARAMS_COMMENT = re.compile(r"^\s*#\s*parameters\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class NotebookSource:
    """A notebook's text as read at build time; `digest` is the sha256 of its bytes."""

    name: str  # the file's name, as the node's label and the executed copy's name
    text: str
    digest: str

    @property
    def short(self) -> str:
        return f"{self.name}@{self.digest[:12]}"


def read_notebook(path: str | Path, parameters: dict[str, Any]) -> NotebookSource:
    """Read and check the notebook at `path` for these `parameters`; a CommandError naming the
    file (and the parameter) when it cannot run as asked."""
    file = Path(path).expanduser()
    shown = f"co.Notebook({str(path)!r})"
    if not file.is_file():
        where = f"{file.resolve()}" if not file.is_absolute() else str(file)
        what = "is a folder" if file.is_dir() else "does not exist"
        raise CommandError(f"{shown}: {where} {what}: give the path of an .ipynb file")
    data = file.read_bytes()
    try:
        nb = json.loads(data)
        cells = nb["cells"]
        if not isinstance(cells, list) or not isinstance(nb.get("nbformat"), int):
            raise TypeError("no nbformat")
    except (ValueError, KeyError, TypeError) as e:
        raise CommandError(
            f"{shown}: {file} is not a Jupyter notebook (.ipynb JSON with cells): {e}"
        ) from None
    if nb["nbformat"] < 4:
        raise CommandError(f"{shown}: {file} is nbformat {nb['nbformat']}; save it as version 4")
    _check_parameters(shown, file.name, cells, parameters)
    digest = hashlib.sha256(data).hexdigest()
    return NotebookSource(file.name, data.decode("utf-8", "replace"), digest)


def _check_parameters(shown: str, name: str, cells: list[Any], parameters: dict[str, Any]) -> None:
    """Where the notebook declares its parameters, a name it does not declare is a typo; with
    no parameters cell any name goes (the injected cell sets it)."""
    for key, value in parameters.items():
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            raise CommandError(
                f"{shown}: parameter `{key}` is of type {type(value).__name__}; a notebook "
                "parameter must be a number, string, bool, None, or a list or dict of them"
            ) from None
    declared = _declared(cells)
    if declared is None:
        return
    for key in parameters:
        if key not in declared:
            listed = ", ".join(f"`{d}`" for d in sorted(declared)) or "nothing"
            raise CommandError(
                f"{shown}: `{key}` is not a parameter of {name}: its parameters cell sets "
                f"{listed}{suggest(key, declared)}; node parameters (name, image, cpu...) go in "
                "params={...}"
            )


def _declared(cells: list[Any]) -> set[str] | None:
    """The names the parameters cell assigns; None where there is no such cell or it is not
    plain Python (magics): then nothing can be checked."""
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        tags = (cell.get("metadata") or {}).get("tags") or []
        first = source.splitlines()[0] if source else ""
        if "parameters" in tags or _PARAMS_COMMENT.match(first):
            try:
                tree = ast.parse(source)
            except SyntaxError:
                return None
            names: set[str] = set()
            for stmt in tree.body:
                targets = stmt.targets if isinstance(stmt, ast.Assign) else []
                if isinstance(stmt, ast.AnnAssign):
                    targets = [stmt.target]
                for target in targets:
                    for node in ast.walk(target):
                        if isinstance(node, ast.Name):
                            names.add(node.id)
            return names
    return None
