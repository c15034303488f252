"""What a deleted pipeline leaves on disk goes with it: `gc` deletes a pipeline's records from
the store, and this removes the files only that pipeline used (its work folder and detached
log, its co.data.pipeline objects, its copies of its images' code). The user's data
(co.data.user) and the images built by content, which other pipelines share, stay."""

from __future__ import annotations

import shutil
from pathlib import Path

from ..backends.local.code import code_folder
from ..data.store import scope
from ..store.db import home

__all__ = ["pipeline_files", "remove_pipeline_files"]


def pipeline_files(pipeline_id: str) -> list[Path]:
    """Every file or folder that belongs to `pipeline_id` alone."""
    work = home() / "work"
    return [
        work / pipeline_id,
        work / f"{pipeline_id}.log",
        scope("pipeline", pipeline_id, home()).root,
        code_folder(pipeline_id),
    ]


def remove_pipeline_files(pipeline_id: str) -> None:
    """Remove them; what is already gone is fine (a second gc, a run that wrote nothing)."""
    for path in pipeline_files(pipeline_id):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
