"""What the panel shows for one node, built only when a user opens it (so the widget's initial
state stays small): path, doc, command, effective parameters with where each came from, state,
attempts with exit codes and times, the last attempt's output, the co.Images it needs (the
browser says it waits for one from their live states), and the NEW reuse subtree its actions
act on as a whole.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..errors import NodeNotFound
from ..model import params as P
from ..model.execs import Exec
from ..model.notebook import Notebook
from ..model.states import ACTIVE
from ..notebook.kept import ExecutedNotebook, kept
from ..run.results import first_failure
from .markdown import BlockScanner, blocks, rendered, to_html

if TYPE_CHECKING:
    from ..model.nodes import Node
    from ..model.states import ImageChanged
    from ..run.record import Record

__all__ = ["OUTPUT_SHOWN", "OutputStreams", "detail", "tail"]

OUTPUT_SHOWN = 200_000  # characters of each stream sent when a panel opens: the last ones
CHUNK_SHOWN = 32_000  # characters of one stream per flush; a flood keeps its end


def detail(
    top: Node,
    path: str,
    record: Record | None,
    letter: str,
    actions: list[str],
    output: dict[str, str] | None = None,
    images: Iterable[ImageChanged] = (),
) -> dict[str, Any]:
    """The `detail` message for the node at `path` (absolute, in `top`'s tree); `output` gives
    the streams when the caller has read them already; `images` are the pipeline's."""
    try:
        node = top[path]
    except NodeNotFound:
        return {"type": "detail", "path": path, "missing": True}
    rows = []
    for name, pv in node.params.items():
        sources = pv.source.split(", ")
        rows.append(
            {
                "name": name,
                "value": _plain(P.to_json(name, pv.value)),
                "source": pv.source,
                "own": path in sources,
            }
        )
    out: dict[str, Any] = {
        "type": "detail",
        "path": path,
        "kind": type(node).__name__,
        "doc_html": to_html(node.own_params["doc"]) if node.own_params.get("doc") else None,
        "params": rows,
        "state": letter,
        "actions": actions,
        "attempts": [],
        "stdout": "",
        "stderr": "",
        "images": [i.key for i in images if path in i.nodes],
    }
    group = P.reuse_root(node)
    if group is not None and group is not node:
        out["reuse_root"] = group.path
    if isinstance(node, Exec):
        out["command"] = node.command
        out["editable"] = not node.command_obj.is_call
        out["own_env"] = _plain(P.to_json("env", node.own_params.get("env", {})))
    if record is not None:
        blocked_by = record.status(path).blocked_by
        if blocked_by is not None:
            out["blocked_by"] = blocked_by
            out["first_failure"] = first_failure(top, blocked_by, record.status)
        out["attempts"] = [
            {
                "attempt": a.attempt,
                "state": a.state,
                "exit_code": a.exit_code,
                "started": a.started,
                "ended": a.ended,
                "message": a.message,
                "result": a.result,
            }
            for a in record.attempts(path)
        ]
        out["callbacks"] = [
            {"event": c.event, "label": c.label, "fired": c.fired, "ok": c.ok, "message": c.message}
            for c in record.callbacks(path)
            if c.ok is not None  # a notification in flight shows once answered
        ]
        for stream in ("stdout", "stderr"):
            text = output[stream] if output is not None else record.output(path, stream)
            out[stream] = tail(text)
        out["md"] = rendered(blocks(out["stdout"]) + blocks(out["stderr"]), record.id)
        if isinstance(node, Notebook):
            out.update(_executed(record, path))
    return out


def _executed(record: Record, path: str) -> dict[str, Any]:
    """A co.Notebook's executed notebook, rendered (the browser frames it, sandboxed) and as
    the .ipynb its save link gives; nothing before it ran or while it runs (the panel gets a
    new detail when the attempt ends)."""
    if record.status(path).state in ACTIVE:  # a copy from an earlier attempt is not this one's
        return {}
    value = record.value(path)
    executed = value if isinstance(value, ExecutedNotebook) else kept(record.id, path)
    if executed is None:
        return {}
    name = path.rsplit("/", 1)[-1] + ".ipynb"
    try:
        return {
            "notebook_html": executed.html(),
            "notebook_ipynb": executed.text,
            "notebook_name": name,
        }
    except Exception as e:  # nbconvert missing or failing: the save link still works
        why = f"cannot render it: {type(e).__name__}: {e}"
        return {
            "notebook_html": None,
            "notebook_ipynb": executed.text,
            "notebook_name": name,
            "notebook_error": why,
        }


class OutputStreams:
    """Output of watched nodes as `out` messages: one per stream per flush, its end only when
    it is a flood, with the Markdown blocks it completes rendered. Used by the pump alone."""

    def __init__(self) -> None:
        self._scanners: dict[tuple[str, int, str], BlockScanner] = {}

    def restart(self, message: dict[str, Any]) -> None:
        """A `detail` went out: its text is what later chunks continue."""
        path, atts = message["path"], message.get("attempts") or []
        self._scanners = {k: v for k, v in self._scanners.items() if k[0] != path}
        if atts:
            for stream in ("stdout", "stderr"):
                scanner = self._scanners[path, atts[-1]["attempt"], stream] = BlockScanner()
                scanner.feed(message.get(stream, ""))

    def messages(
        self, chunks: list[tuple[str, int, str, str]], pipeline_id: str | None = None
    ) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for path, attempt, stream, text in chunks:
            last = out[-1] if out else None
            if last and (last["path"], last["attempt"], last["stream"]) == (path, attempt, stream):
                last["text"] += text
            else:
                where = {"path": path, "attempt": attempt, "stream": stream}
                out.append({"type": "out", **where, "text": text})
        for m in out:
            scanner = self._scanners.setdefault(
                (m["path"], m["attempt"], m["stream"]), BlockScanner()
            )
            found = scanner.feed(m["text"])
            if found:
                m["md"] = rendered(found, pipeline_id)
            if len(m["text"]) > CHUNK_SHOWN:
                skipped = len(m["text"]) - CHUNK_SHOWN
                m["text"] = f"[... {skipped} characters skipped ...]\n" + m["text"][-CHUNK_SHOWN:]
        return out


def tail(text: str, limit: int = OUTPUT_SHOWN) -> str:
    if len(text) <= limit:
        return text
    return f"[... {len(text) - limit} earlier characters not shown ...]\n" + text[-limit:]


def _plain(value: Any) -> Any:
    """JSON-ready, whatever a parameter holds (an unknown object shows as its repr)."""
    return json.loads(json.dumps(value, default=repr))
