"""The executed notebook, a Notebook node's result: kept by the run's owner in the pipeline's
co.data (`conducto_nb/notebooks/<node path>.ipynb`), so a run read back from the store, the
CLI and the widget find it with no kernel that ran it; rendered to HTML by nbconvert.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from ..errors import DataNotFound
from .execute import FORMAT

__all__ = ["ExecutedNotebook", "keep", "kept", "object_name"]

#: Where in a pipeline's co.data the executed notebooks are.
PREFIX = "conducto_nb/notebooks"


def object_name(path: str) -> str:
    """The co.data object name of the executed notebook of the node at `path`."""
    return f"{PREFIX}{path}.ipynb"


class ExecutedNotebook:
    """A notebook as a Notebook node ran it: `.save(file)` writes the .ipynb, `.html()` renders
    it, `.nb` is its JSON; shown in a cell, it is the rendered notebook."""

    def __init__(self, path: str, text: str, where: str | None = None) -> None:
        self.path, self.text, self.where = path, text, where
        self._html: str | None = None

    @property
    def nb(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.text)
        return value

    @property
    def code_cells(self) -> int:
        """Its code cells as the user wrote them (not papermill's injected one)."""
        return sum(
            1
            for c in self.nb.get("cells", [])
            if c.get("cell_type") == "code"
            and "injected-parameters" not in c.get("metadata", {}).get("tags", [])
        )

    def save(self, file: str | Path) -> Path:
        """Write the executed .ipynb to `file` (open it in Jupyter to explore its outputs)."""
        target = Path(file).expanduser()
        target.write_text(self.text, encoding="utf-8")
        return target

    def html(self) -> str:
        """The whole notebook as one HTML page (nbconvert's), outputs and plots included."""
        if self._html is None:  # a panel opened again asks again
            self._html = render_html(self.text)
        return self._html

    def _repr_html_(self) -> str:
        import html

        page = html.escape(self.html(), quote=True)
        return (  # sandboxed: the notebook's own scripts and styles stay in its frame
            f'<iframe sandbox="" title="executed notebook {html.escape(self.path)}" '
            f'style="width:100%;height:480px;border:1px solid #d0d7de" srcdoc="{page}"></iframe>'
        )

    def __repr__(self) -> str:
        kept_as = f", kept as co.data.pipeline {self.where!r}" if self.where else ""
        return f"<executed notebook {self.path}: {self.code_cells} code cells{kept_as}>"


def render_html(text: str) -> str:
    """nbconvert's HTML page of the notebook JSON `text`."""
    nbformat = importlib.import_module("nbformat")  # untyped: its calls are Any
    exporter = importlib.import_module("nbconvert").HTMLExporter()
    body, _ = exporter.from_notebook_node(nbformat.reads(text, as_version=4))
    return str(body)


def is_result(value: object) -> bool:
    """Whether a callable's return value is what run_notebook returns."""
    return isinstance(value, dict) and value.get("format") == FORMAT


def keep(
    pipeline_id: str, path: str, value: dict[str, Any], home: Path | None = None
) -> tuple[ExecutedNotebook | None, str | None]:
    """Keep what run_notebook returned for the node at `path`: the executed notebook (None when
    it never ran) and the error that fails the node (None when every cell ran)."""
    from ..data.store import scope  # lazy: a run without notebooks never reads co.data

    text, error = value.get("notebook"), value.get("error")
    where, place = object_name(path), scope("pipeline", pipeline_id, home)
    if not isinstance(text, str):  # an earlier attempt's copy would pass for this one's
        if place.exists(where):
            place.delete(where)
        return None, str(error or "the notebook did not run")
    place.write(where, [text.encode("utf-8")])
    return ExecutedNotebook(path, text, where), (str(error) if error else None)


def kept(pipeline_id: str, path: str, home: Path | None = None) -> ExecutedNotebook | None:
    """The executed notebook of the node at `path` of a pipeline, if it ran."""
    from ..data.store import scope

    where = object_name(path)
    try:
        with scope("pipeline", pipeline_id, home).open(where) as f:
            text = f.read().decode("utf-8")
    except DataNotFound:
        return None
    return ExecutedNotebook(path, text, where)
