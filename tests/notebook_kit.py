"""Notebooks written for the co.Notebook tests (local and Docker): real .ipynb files, run by
real kernels."""

from __future__ import annotations

from pathlib import Path

import nbformat


def write_notebook(
    path: Path, *cells: str, parameters: str | None = None, tag: str = "tagged"
) -> Path:
    """A notebook of code `cells`; `parameters` is the parameters cell, put first, marked by a
    `parameters` tag (tag="tagged") or by its first line `# parameters` (tag="comment")."""
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell("# A notebook that a pipeline runs"))
    if parameters is not None:
        if tag == "comment":
            cell = nbformat.v4.new_code_cell("# parameters\n" + parameters)
        else:
            cell = nbformat.v4.new_code_cell(parameters)
            cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    nb.cells.extend(nbformat.v4.new_code_cell(source) for source in cells)
    nbformat.write(nb, str(path))
    return path


def is_gone(pid: int) -> bool:
    """Whether process `pid` no longer runs (gone, or a zombie nobody reaped yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def outputs_text(nb: dict[str, object]) -> str:
    """Every text output of an executed notebook, in order."""
    parts: list[str] = []
    for cell in nb["cells"]:  # type: ignore[attr-defined]
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                parts.append("".join(out["text"]))
            elif "data" in out and "text/plain" in out["data"]:
                parts.append("".join(out["data"]["text/plain"]) + "\n")
            elif out.get("output_type") == "error":
                parts.append(f"{out['ename']}: {out['evalue']}\n")
    return "".join(parts)
