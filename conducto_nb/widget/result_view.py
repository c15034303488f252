"""One node's result as a cell's output (`run["/test/unit"]`): its path, a state chip in the
graph's colours, the exit code, every attempt with its duration and message, and the last lines
of stdout and stderr; as HTML for notebooks and as text for terminals. A snapshot of when the
cell ran: the graph widget (`run` as a cell's last expression) is the live view. Everything
that comes from a node (output, messages, paths) is escaped.
"""

from __future__ import annotations

import html
import time
from typing import TYPE_CHECKING

from ..errors import NodeNotFound
from ..model.states import NodeStatus, State
from ..run.record import Attempt
from .encode import COLOURS, INK

if TYPE_CHECKING:
    from ..model.nodes import Node
    from ..run.results import NodeResult

__all__ = ["TAIL_LINES", "html_of", "tail", "text_of"]

TAIL_LINES = 40  # of each stream, the last ones
TEXT_TAIL_LINES = 15  # the same in a terminal, where the screen is smaller
LINE_CHARS = 400  # of one line: a megabyte without a newline must not flood the output

_BOX = (
    "font-family:var(--jp-ui-font-family,system-ui,sans-serif);font-size:13px;"
    "line-height:1.45;color:var(--jp-content-font-color1,#1f2328);max-width:100%"
)
_PRE = (
    "margin:2px 0 8px;padding:6px 8px;max-height:24em;overflow:auto;white-space:pre-wrap;"
    "word-break:break-all;font-size:12px;background:var(--jp-layout-color2,#f6f8fa);"
    "border-radius:4px;font-family:var(--jp-code-font-family,monospace)"
)
_CELL = "padding:1px 10px 1px 0;text-align:left;vertical-align:top"


def tail(text: str, lines: int = TAIL_LINES) -> tuple[list[str], int]:
    """The last `lines` lines of `text` (each cut at LINE_CHARS) and how many came before;
    reads only the end of a long output."""
    if not text:
        return [], 0
    body = text[:-1] if text.endswith("\n") else text
    kept = body.rsplit("\n", lines)
    hidden = 0
    if len(kept) > lines:
        hidden = body.count("\n") + 1 - lines
        kept = kept[1:]
    return [_clip(line) for line in kept], hidden


def _clip(line: str) -> str:
    if len(line) <= LINE_CHARS:
        return line
    return f"{line[:LINE_CHARS]}… ({len(line) - LINE_CHARS:,} more characters)"


def _more(hidden: int) -> str:
    return f"… {hidden:,} more line{'s' if hidden != 1 else ''}"


def _node(result: NodeResult) -> Node | None:
    try:
        return result.run.tree[result.path]
    except NodeNotFound:  # a Lazy's generated node after a reset
        return None


def _seconds(attempt: Attempt, now: float) -> str:
    if attempt.started is None:
        return ""
    if attempt.ended is None:
        return f"{now - attempt.started:.2f} s so far"
    return f"{attempt.ended - attempt.started:.2f} s"


def _chip(state: State | str, label: str) -> str:
    key = state if state in COLOURS else "pending"
    return (
        f'<span style="background:{COLOURS[key]};color:{INK[key]};border-radius:9px;'
        f'padding:0 8px;font-size:12px;white-space:nowrap">{html.escape(label)}</span>'
    )


def _status_label(status: NodeStatus) -> str:
    return f"{status.state.value} (skipped)" if status.skipped else status.state.value


def _below(result: NodeResult, top: Node) -> str:
    """A container's Execs, counted by state: what its own state derives from."""
    counts: dict[str, int] = {}
    statuses = result.run.record.statuses()
    for node in top.walk():
        if node is not top and not node.children and node.kind == "exec":
            state = statuses.get(node.path, NodeStatus()).state.value
            counts[state] = counts.get(state, 0) + 1
    return ", ".join(f"{n} {s}" for s, n in counts.items()) or "none"


def html_of(result: NodeResult) -> str:
    """`NodeResult._repr_html_`."""
    now = time.time()
    status, attempts, node = result.status, result.attempts, _node(result)
    kind = type(node).__name__ if node is not None else "Node"
    e = html.escape
    head = [
        f"<b>{e(kind)}</b> <code>{e(result.path)}</code>",
        _chip(status.state, _status_label(status)),
    ]
    if result.exit_code is not None:
        head.append(f"exit {result.exit_code}")
    if attempts and (took := _seconds(attempts[-1], now)):
        head.append(e(took))
    head.append(f'<span style="opacity:.6">run {e(result.run.id)}</span>')
    parts = [f'<div style="{_BOX}">', f"<div>{' · '.join(head)}</div>"]
    if node is not None and node.children and not attempts:
        parts.append(f'<div style="opacity:.8">its Execs: {e(_below(result, node))}</div>')
    if attempts:
        parts.append(_attempts_table(attempts, now))
        if attempts[-1].result is not None:
            parts.append(
                f'<div style="margin-top:4px"><b>returned</b>'
                f'<pre style="{_PRE}">{e(attempts[-1].result)}</pre></div>'
            )
    for stream in ("stdout", "stderr"):
        lines, hidden = tail(getattr(result, stream))
        if not lines:
            continue
        note = f' <span style="opacity:.6">({_more(hidden)} above)</span>' if hidden else ""
        shown = e("\n".join(lines))
        parts.append(
            f'<div style="margin-top:4px"><b>{stream}</b>{note}'
            f'<pre style="{_PRE}">{shown}</pre></div>'
        )
    parts.append(
        '<div style="opacity:.6;font-size:11px">a snapshot of when this cell ran; '
        "the graph (<code>run</code> as a cell's last expression) is the live view</div></div>"
    )
    return "".join(parts)


def _attempts_table(attempts: list[Attempt], now: float) -> str:
    e = html.escape
    header = "".join(
        f'<th style="{_CELL}">{h}</th>'
        for h in ("attempt", "state", "exit", "started", "took", "message")
    )
    rows = []
    for a in attempts:
        state = a.state or "running"
        started = time.strftime("%H:%M:%S", time.localtime(a.started)) if a.started else ""
        cells = [
            str(a.attempt),
            _chip(state, state),
            "" if a.exit_code is None else str(a.exit_code),
            started,
            e(_seconds(a, now)),
            e(a.message or ""),
        ]
        rows.append("<tr>" + "".join(f'<td style="{_CELL}">{c}</td>' for c in cells) + "</tr>")
    return (
        '<table style="border-collapse:collapse;margin:4px 0;font-size:12px">'
        f"<tr>{header}</tr>{''.join(rows)}</table>"
    )


def text_of(result: NodeResult) -> str:
    """`_repr_pretty_`: the same for a terminal, with shorter tails."""
    now = time.time()
    lines = [repr(result)]
    for a in result.attempts:
        code = "" if a.exit_code is None else f" exit {a.exit_code}"
        took = _seconds(a, now)
        message = f": {a.message}" if a.message else ""
        lines.append(f"  attempt {a.attempt}: {a.state or 'running'}{code} {took}{message}")
    if result.attempts and result.attempts[-1].result is not None:
        lines.append(f"returned: {result.attempts[-1].result}")
    for stream in ("stdout", "stderr"):
        kept, hidden = tail(getattr(result, stream), TEXT_TAIL_LINES)
        if kept:
            lines.append(f"{stream}:" + (f" ({_more(hidden)} above)" if hidden else ""))
            lines += [f"  {line}" for line in kept]
    return "\n".join(lines)
