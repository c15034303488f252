"""What the widget tests share: a comm that records what the widget sends to the browser (and
passes on what a browser would send), and waiting for what it recorded. `comm.create_comm` is
made to be replaced: a test's `recording` fixture puts RecordingComm there."""

from __future__ import annotations

import json
import time
from typing import Any

from comm.base_comm import BaseComm

from conducto_nb.widget.model import PipelineWidget

__all__ = ["RecordingComm", "finished", "image_state", "wait_for", "widget_of"]


class RecordingComm(BaseComm):
    """A comm that keeps what the widget sends, with the time it sent it."""

    sent: list[tuple[float, str, dict[str, Any]]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.sent = []
        super().__init__(*args, **kwargs)

    def publish_msg(self, msg_type: str, data: Any = None, *a: Any, **k: Any) -> None:
        self.sent.append((time.monotonic(), msg_type, json.loads(json.dumps(data or {}))))

    def updates(self, key: str) -> list[Any]:
        return [d["state"][key] for _, _, d in self.sent if key in d.get("state", {})]

    def custom(self, kind: str) -> list[dict[str, Any]]:
        return [
            d["content"]
            for _, _, d in self.sent
            if d.get("method") == "custom" and d["content"].get("type") == kind
        ]

    def receive(self, content: dict[str, Any]) -> None:
        """A message from the browser, through the comm's own handler."""
        self.handle_msg(
            {"content": {"data": {"method": "custom", "content": content}}, "buffers": []}
        )


def widget_of(subject: Any) -> tuple[PipelineWidget, RecordingComm]:
    w = PipelineWidget(subject)
    assert isinstance(w.comm, RecordingComm)
    return w, w.comm


def finished(sent: RecordingComm) -> bool:
    """The widget has said its run ended."""
    last = sent.updates("header")[-1]
    return bool(last["kind"] != "node" and last["started"] and not last["live"])


def wait_for(check: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def image_state(sent: RecordingComm, key: str) -> str | None:
    """The state the browser holds for image `key` (the last `images` it got)."""
    images = sent.updates("images")
    return next((i["state"] for i in images[-1] if i["key"] == key), None) if images else None
