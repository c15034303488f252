"""What one attempt of an Exec prints: the sink its output goes through on the way to the
Execution's observers (secrets masked, even when split across reads), and the tree a Lazy
generator printed, read back from the stdout that sink kept.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ..errors import PipelineError
from ..model.nodes import Node
from ..model.secrets import mask
from ..model.serialize import loads, tree_from_json
from ..model.states import OutputChunk

__all__ = ["OutputCollector", "generated_tree"]


class OutputCollector:
    """The OutputSink of one attempt: masks secrets line by line, publishes chunks. `secrets`
    is the Execution's own set, which grows as its jobs resolve their secrets."""

    def __init__(
        self,
        publish: Callable[[object], None],
        secrets: set[str],
        path: str,
        attempt: int,
        keep_stdout: bool,
    ) -> None:
        self.publish, self.secrets = publish, secrets
        self.path, self.attempt = path, attempt
        self.partial = {"stdout": "", "stderr": ""}
        self.kept: list[str] | None = [] if keep_stdout else None

    def __call__(self, stream: str, text: str) -> None:
        if self.kept is not None and stream == "stdout":
            self.kept.append(text)
        if self.secrets:  # hold partial lines so a secret split across reads is masked
            text = self.partial[stream] + text
            cut = text.rfind("\n") + 1
            text, self.partial[stream] = text[:cut], text[cut:]
            text = mask(text, self.secrets)
        if text:
            self.publish(OutputChunk(self.path, self.attempt, stream, text))

    def flush(self) -> None:
        for stream, rest in self.partial.items():
            if rest:
                self.partial[stream] = ""
                self.publish(OutputChunk(self.path, self.attempt, stream, mask(rest, self.secrets)))

    def stdout_text(self) -> str:
        return "".join(self.kept or [])


def generated_tree(result: Any, stdout: str) -> tuple[Node | None, str | None]:
    """The tree a Lazy generator produced: the callable's node JSON, or the command's stdout."""
    try:
        if isinstance(result, dict):
            return tree_from_json(result), None
        if isinstance(result, Node):
            return result, None
        text = stdout.strip()
        if not text:
            return None, "the Lazy generator printed no tree (expected a serialised node)"
        try:
            return loads(text), None
        except PipelineError:
            return loads(text.splitlines()[-1]), None
    except (PipelineError, json.JSONDecodeError) as e:
        return None, f"the Lazy generator's output is not a tree: {e}"
