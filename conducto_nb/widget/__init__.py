"""The live pipeline graph in a notebook: an anywidget whose model follows a run (model.py,
feed.py, sources.py, run_sources.py) and whose view is a TypeScript component bundled into
static/graph.js (src/, built by scripts/build_widget.sh); and the static SVG graphviz draws for
viewers without a kernel (static_svg.py). `Node` and `Run` import this package only when they
are displayed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .display import mimebundle, show, widget_for
from .run_sources import DEBUG_HANDLERS

if TYPE_CHECKING:
    from ..run.runs import Run

__all__ = ["mimebundle", "set_debug_handler", "show", "widget_for"]


def set_debug_handler(handler: Callable[[Run, str], str | None]) -> None:
    """The hook for the debug magic: panels then offer "debug", which calls
    `handler(run, path)` on a kernel thread and shows what it returns."""
    DEBUG_HANDLERS.append(handler)
