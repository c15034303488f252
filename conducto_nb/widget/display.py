"""How a Node or a Run shows as a cell's output: the live widget, and beside it in the same
output a static SVG and a text form for viewers without a widget front end. In a kernel the
output gets a display id, so the SVG is re-sent when the run ends. Without the [lab] extra,
or outside a kernel, the SVG (when graphviz is there) and the text remain.

One widget per run (and per tree object): showing a run again adds a view of the same model,
so re-running a cell does not multiply the traffic. The widget of a tree follows each run
started from it (follow.py); a run shown on its own gets a widget that stays on that run.
"""

from __future__ import annotations

import threading
import time
import weakref
from typing import TYPE_CHECKING, Any

from ..model.nodes import Node
from ..run.runs import Run
from .encode import Flat, busy_time, code, flatten, state_string
from .static_svg import render

if TYPE_CHECKING:
    from .model import PipelineWidget

__all__ = ["Displays", "bundle", "forget", "mimebundle", "show", "svg_of", "widget_for"]

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
TEXT_LINES = 60  # of a run's text form kept in the output (a 10,000-node tree has as many)

_LOCK = threading.Lock()
_BY_RUN: dict[str, PipelineWidget] = {}
_BY_NODE: weakref.WeakKeyDictionary[Node, PipelineWidget] = weakref.WeakKeyDictionary()


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    return getattr(get_ipython(), "kernel", None) is not None


def widget_for(subject: Node | Run) -> PipelineWidget | None:
    """The subject's widget (made on first use), or None without a kernel or anywidget."""
    if not _in_kernel():
        return None
    try:
        from .model import PipelineWidget  # lazy: needs anywidget, the [lab] extra
    except ImportError:  # no [lab] extra: pip install 'conducto_nb[lab]'
        return None
    with _LOCK:
        found = _BY_RUN.get(subject.id) if isinstance(subject, Run) else _BY_NODE.get(subject)
        if found is not None and not found.closed:
            if isinstance(subject, Node) and found.subject is subject:
                found.refresh_tree()  # the tree may have grown since it was last shown
            return found
        widget = PipelineWidget(subject)
        if isinstance(subject, Run):
            _BY_RUN[subject.id] = widget
        else:
            _BY_NODE[subject] = widget
        return widget


def forget(widget: PipelineWidget) -> None:
    """A closed widget: showing its subject again makes a new one, and it keeps no tree alive
    (a value of `_BY_NODE` that holds its key would)."""
    with _LOCK:
        for run_id in [k for k, w in _BY_RUN.items() if w is widget]:
            del _BY_RUN[run_id]
        for node in [k for k, w in _BY_NODE.items() if w is widget]:
            del _BY_NODE[node]


def show(subject: Node | Run) -> None:
    """`_ipython_display_`: display with an id, so the end of the run can update it."""
    from IPython.display import display

    widget = widget_for(subject)
    handle = display(bundle(subject, widget), raw=True, display_id=True)  # type: ignore[no-untyped-call]
    if widget is not None and handle is not None:
        widget.displays.ids.append(handle.display_id)
        widget.displayed()
        _hook_cells()


class Displays:
    """The outputs one widget shows in, by display id. Drawn while its run was live, they are
    re-sent with the final picture when it ends: once by the pump (live, outside any cell),
    once after the next cell (for clients that keep only the messages of the cell they run:
    nbclient)."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self._lock = threading.Lock()
        self._stale = {"pump": False, "cell": False}

    def outdated(self, shown_only: bool = False) -> None:
        """What they show will need the final picture (with `shown_only`: if there are any)."""
        with self._lock:
            stale = bool(self.ids) or not shown_only
            self._stale = {"pump": stale, "cell": stale}

    def due(self, by: str) -> bool:
        """Whether `by` ("pump" or "cell") is to re-send them now: not again until outdated."""
        with self._lock:
            stale, self._stale[by] = self._stale[by], False
        return stale and bool(self.ids)

    def update(self, data: dict[str, Any]) -> None:
        """Re-send every one of them with `data`, a bundle."""
        from IPython.display import update_display

        for display_id in self.ids:
            update_display(data, display_id=display_id, raw=True)  # type: ignore[no-untyped-call]


_hooked: list[object] = []


def _hook_cells() -> None:
    """Once per kernel: after each cell, displays of runs that ended are re-sent from the main
    thread (the pump re-sends them live too, but outside any cell)."""
    from IPython import get_ipython

    ip = get_ipython()
    if ip is None or ip in _hooked:
        return
    _hooked.append(ip)
    ip.events.register("post_execute", _after_cell)


def _after_cell() -> None:
    with _LOCK:
        widgets = [*_BY_RUN.values(), *_BY_NODE.values()]
    for widget in dict.fromkeys(widgets):
        if not widget.closed:
            widget.refresh_if_ended("cell")


def mimebundle(subject: Node | Run) -> dict[str, Any]:
    """`_repr_mimebundle_`, for front ends that ask for a bundle rather than displaying."""
    return bundle(subject, widget_for(subject))


def bundle(subject: Node | Run, widget: PipelineWidget | None) -> dict[str, Any]:
    lines = repr(subject).splitlines()
    if len(lines) > TEXT_LINES:
        lines = [*lines[:TEXT_LINES], f"... ({len(lines) - TEXT_LINES} more lines)"]
    data: dict[str, Any] = {"text/plain": "\n".join(lines)}
    svg = widget.svg() if widget is not None else _svg_without_widget(subject)
    if svg:
        data["image/svg+xml"] = svg
    if widget is not None:
        data[WIDGET_MIME] = {"version_major": 2, "version_minor": 0, "model_id": widget.model_id}
    return data


def _svg_without_widget(subject: Node | Run) -> str | None:
    if isinstance(subject, Run):
        flat = flatten(subject.tree)
        codes = {p: code(s) for p, s in subject.record.statuses().items()}
        spans = [
            (a.started, a.ended)
            for p in flat.paths
            for a in subject.record.attempts(p)
            if a.started is not None
        ]
        busy, since = busy_time(spans)
        ran = busy + (time.time() - since if since else 0.0) if spans else None
        return svg_of(subject, flat, codes, ran)
    codes = {n.path: "P" for n in subject.walk() if n.own_params.get("skip")}
    return svg_of(subject, flatten(subject), codes, None)


def svg_of(
    subject: Node | Run,
    flat: Flat,
    codes: dict[str, str],
    ran: float | None,
) -> str | None:
    states = state_string(flat, codes)
    if isinstance(subject, Run):
        title = f"Run {subject.id}"
        note = states[0] and _label(states[0])
        if ran is not None:  # how long something ran
            note += f" · {ran:.1f} s"
    else:
        title, note = f"{type(subject).__name__} {subject.path}", "not run yet"
    return render(flat, states, title, note)


def _label(letter: str) -> str:
    from .encode import status_of

    return status_of(letter).label
