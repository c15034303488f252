"""The graph as a static SVG drawn by graphviz's `dot`, for viewers without a kernel (nbviewer,
GitHub, nbconvert): the same boxes, colours and collapsed groups as the live widget, a header
with a count per state, and the legend. No `dot` on PATH: no SVG (the text repr remains).
"""

from __future__ import annotations

import html
import shutil
import subprocess
from itertools import pairwise

from .encode import (
    COLOURS,
    INK,
    STATE_ORDER,
    Flat,
    exec_counts,
    expanded,
    group_state,
    groups,
    status_of,
)

__all__ = ["render", "to_dot"]

SVG_BUDGET = 120  # fewer boxes than the widget: dot's time grows fast, and nothing expands here
_MAX_LABEL = 28


def render(flat: Flat, states: str, title: str, note: str = "") -> str | None:
    """The SVG text, or None when `dot` is missing or fails."""
    dot = shutil.which("dot")
    if dot is None:
        return None
    try:
        done = subprocess.run(
            [dot, "-Tsvg"],
            input=to_dot(flat, states, title, note).encode(),
            capture_output=True,
            timeout=30,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    text = done.stdout.decode("utf-8", "replace")
    start = text.find("<svg")
    return text[start:] if start >= 0 else None


def to_dot(flat: Flat, states: str, title: str, note: str = "") -> str:
    """DOT source: Serial children left to right joined by arrows, Parallel children stacked,
    every open container a cluster; deterministic, so a saved notebook diffs cleanly."""
    lines = [
        "digraph pipeline {",
        '  graph [rankdir=LR, compound=true, fontname="Helvetica", fontsize=10, nodesep=0.1,'
        f" ranksep=0.25, labelloc=t, labeljust=l, label={_header(flat, states, title, note)}];",
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=9,'
        ' height=0.28, margin="0.08,0.03", penwidth=0.8, color="#4b5563"];',
        '  edge [arrowsize=0.5, color="#6b7280"];',
    ]
    _Emitter(flat, states, expanded(flat, SVG_BUDGET), lines).item(0, "  ")
    lines.append("}")
    return "\n".join(lines) + "\n"


_Ends = tuple[str, str, str | None, str | None]  # entry node, exit node, their clusters


class _Emitter:
    def __init__(self, flat: Flat, states: str, open_: set[int], lines: list[str]) -> None:
        self.flat, self.states, self.open, self.lines = flat, states, open_, lines

    def item(self, i: int, pad: str) -> _Ends:
        """Emit node `i`; returns (entry node, exit node, entry cluster, exit cluster)."""
        flat, letter = self.flat, self.states[i]
        status = status_of(letter)
        name = _short(flat.titles.get(i) or flat.names[i] or flat.base)
        if i not in self.open:
            label = [name]
            extra = ""
            if flat.kinds[i] != "E":
                n = flat.end[i] - i - 1
                label.append(_summary(exec_counts(flat, self.states, i, flat.end[i]), n))
                extra = ", peripheries=2"
            self._box(f"n{i}", label, status.state.value, status.skipped, extra, pad)
            return f"n{i}", f"n{i}", None, None
        cluster = f"cluster_{i}"
        colour = COLOURS[status.state.value]
        kind = {"S": "Serial", "P": "Parallel", "L": "Lazy"}[flat.kinds[i]]
        self.lines.append(f"{pad}subgraph {cluster} {{")
        style = "rounded,dashed" if status.skipped else "rounded"
        self.lines.append(
            f'{pad}  label="{_quote(name)}  ({kind})"; style="{style}"; color="{colour}";'
            ' penwidth=1.6; fontsize=9; fontname="Helvetica";'
        )
        parts = self._children(i, pad + "  ")
        self.lines.append(f"{pad}}}")
        if flat.kinds[i] != "P":
            for (_, tail, _, tcl), (head, _, hcl, _) in pairwise(parts):
                attrs = [f"ltail={tcl}"] if tcl else []
                attrs += [f"lhead={hcl}"] if hcl else []
                self.lines.append(f"{pad}{tail} -> {head} [{', '.join(attrs)}];")
        first, last = parts[0], parts[-1]
        return first[0], last[1], cluster, cluster

    def _children(self, i: int, pad: str) -> list[_Ends]:
        kids = self.flat.kids[i]
        ranges = groups(len(kids))
        if ranges is None:
            return [self.item(k, pad) for k in kids]
        out: list[_Ends] = []
        for a, b in ranges:
            members = kids[a:b]
            node = f"g{i}_{a}"
            state = group_state(self.states[k] for k in members).value
            lo, hi = members[0], self.flat.end[members[-1]]
            first, last = _short(self.flat.names[members[0]]), _short(self.flat.names[members[-1]])
            counts = _summary(exec_counts(self.flat, self.states, lo, hi), b - a)
            self._box(node, [f"{first} … {last}", counts], state, False, ", peripheries=2", pad)
            out.append((node, node, None, None))
        return out

    def _box(
        self, node: str, label: list[str], state: str, skipped: bool, extra: str, pad: str
    ) -> None:
        style = "rounded,filled,dashed" if skipped else "rounded,filled"
        text = "\\n".join(_quote(line) for line in label)
        self.lines.append(
            f'{pad}{node} [label="{text}", fillcolor="{COLOURS[state]}",'
            f' fontcolor="{INK[state]}", style="{style}"{extra}];'
        )


def _header(flat: Flat, states: str, title: str, note: str) -> str:
    counts = exec_counts(flat, states)
    occur = [s for s in STATE_ORDER if counts.get(s)] or STATE_ORDER[:1]  # the legend
    cells = "".join(
        f'<td bgcolor="{COLOURS[s]}"><font color="{INK[s]}">{s.replace("_", " ")}'
        f" {counts.get(s, 0)}</font></td>"
        for s in occur
    )
    head = f"<b>{html.escape(title)}</b>" + (f"  {html.escape(note)}" if note else "")
    return (
        '<<table border="0" cellspacing="2" cellpadding="3">'
        f'<tr><td align="left" colspan="{len(occur)}">{head}</td></tr>'
        f"<tr>{cells}</tr></table>>"
    )


def _summary(counts: dict[str, int], n: int) -> str:
    shown = ", ".join(f"{counts[s]} {s.replace('_', ' ')}" for s in STATE_ORDER if counts.get(s))
    return f"{n} nodes: {shown}" if shown else f"{n} nodes"


def _short(text: str) -> str:
    return text if len(text) <= _MAX_LABEL else text[: _MAX_LABEL - 1] + "…"


def _quote(text: str) -> str:
    """Text inside a DOT double-quoted string."""
    return text.replace("\\", "\\\\").replace('"', '\\"')
