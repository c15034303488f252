"""The graph as both views see it: the tree flattened in preorder and sent in a columnar form
(names joined by "/", which no name contains; one letter per kind and per state), so the state
of a 10,000-node tree stays far below 200 kB; and which containers show expanded, by the same
rule the front end applies (src/layout.ts), so the live widget and the static SVG agree.

One table, static/states.json, holds the state letters and colours for Python and TypeScript.
"""

from __future__ import annotations

import json
import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..model.nodes import Node
from ..model.states import NodeStatus, State, count_categories, derive_state

__all__ = [
    "BUDGET",
    "CODES",
    "COLOURS",
    "GROUP",
    "Flat",
    "busy_time",
    "code",
    "encode",
    "expanded",
    "flatten",
]

STATIC = Path(__file__).parent / "static"
_TABLE = json.loads((STATIC / "states.json").read_text(encoding="utf-8"))
STATE_ORDER: list[str] = _TABLE["order"]
CODES: dict[str, str] = _TABLE["codes"]
COLOURS: dict[str, str] = _TABLE["colours"]
INK: dict[str, str] = _TABLE["ink"]
GROUP: int = _TABLE["group"]  # a container with more children shows them in groups
BUDGET: int = _TABLE["budget"]  # boxes shown before subtrees start collapsed
_STATE_OF = {c: State(s) for s, c in CODES.items()}


def code(status: NodeStatus) -> str:
    """One letter per state; upper case when the node is skipped."""
    letter = CODES[status.state.value]
    return letter.upper() if status.skipped else letter


def status_of(letter: str) -> NodeStatus:
    return NodeStatus(_STATE_OF[letter.lower()], letter.isupper())


@dataclass
class Flat:
    """A tree in preorder. A node's subtree is the slice `[i, end[i])`, so counting what lies
    below any box is a scan of one slice."""

    base: str  # the top node's path: "/" for a run, "/test" for a subtree shown on its own
    paths: list[str]
    names: list[str]
    kinds: str  # S serial, P parallel, L lazy, E exec
    kids: list[list[int]]
    end: list[int]
    titles: dict[int, str]

    def __len__(self) -> int:
        return len(self.paths)


def _kind(node: Node) -> str:
    from ..model.execs import Lazy

    if isinstance(node, Lazy):
        return "L"
    return {"serial": "S", "parallel": "P"}.get(node.kind, "E")


def flatten(top: Node) -> Flat:
    """`top` and its descendants in preorder, with the paths they have in their tree."""
    base = top.path
    flat = Flat(base, [], [], "", [], [], {})
    kinds: list[str] = []
    stack: list[tuple[Node, str, str, int]] = [(top, base, "", -1)]
    while stack:
        node, path, name, parent = stack.pop()
        i = len(flat.paths)
        flat.paths.append(path)
        flat.names.append(name)
        kinds.append(_kind(node))
        flat.kids.append([])
        flat.end.append(0)
        if parent >= 0:
            flat.kids[parent].append(i)
        title = node.own_params.get("title")
        if title:
            flat.titles[i] = title
        prefix = "" if path == "/" else path
        for kid_name, kid in reversed(list(node.children.items())):
            stack.append((kid, f"{prefix}/{kid_name}", kid_name, i))
    flat.kinds = "".join(kinds)
    for i in range(len(flat.paths) - 1, -1, -1):  # children come after their parent
        kids = flat.kids[i]
        flat.end[i] = flat.end[kids[-1]] if kids else i + 1
    return flat


def encode(flat: Flat) -> dict[str, Any]:
    """The `tree` trait without its states (model.py adds the current ones when it is sent)."""
    return {
        "v": 1,
        "base": flat.base,
        "names": "/".join(flat.names),
        "kinds": flat.kinds,
        "nkids": [len(k) for k, kind in zip(flat.kids, flat.kinds, strict=True) if kind != "E"],
        "titles": {str(i): t for i, t in flat.titles.items()},
        "group": GROUP,
        "budget": BUDGET,
    }


def state_string(flat: Flat, codes: Mapping[str, str]) -> str:
    return "".join(codes.get(p, "p") for p in flat.paths)


def groups(n: int) -> list[tuple[int, int]] | None:
    """How `n` children show: one by one (None) or as ranges of at most GROUP boxes, each range
    a power of GROUP long, so a range expands into ranges again until they are small."""
    if n <= GROUP:
        return None
    size = GROUP
    while -(-n // size) > GROUP:
        size *= GROUP
    return [(a, min(a + size, n)) for a in range(0, n, size)]


def expanded(flat: Flat, budget: int = BUDGET) -> set[int]:
    """Containers shown open at first: breadth first from the top while the boxes shown stay
    within `budget`; the top one always. Children of a grouped container stay in their
    (closed) groups."""
    out: set[int] = set()
    shown = 1
    queue = deque([0])
    while queue:
        i = queue.popleft()
        kids = flat.kids[i]
        if flat.kinds[i] == "E" or not kids:
            continue
        ranges = groups(len(kids))
        cost = len(ranges) if ranges else len(kids)
        if i and shown + cost > budget:
            continue
        out.add(i)
        shown += cost
        if ranges is None:
            queue.extend(kids)
    return out


def exec_counts(flat: Flat, states: str, lo: int = 0, hi: int | None = None) -> dict[str, int]:
    """How many Execs in `[lo, hi)` are in each state (skipped ones under their state)."""
    counts: dict[str, int] = {}
    hi = len(flat) if hi is None else hi
    for i in range(lo, hi):
        if flat.kinds[i] == "E":
            state = _STATE_OF[states[i].lower()].value
            counts[state] = counts.get(state, 0) + 1
    return counts


def group_state(letters: Iterable[str]) -> State:
    """The state a group of siblings shows: derived as a parent derives it."""
    cats = [None if c.isupper() else _STATE_OF[c] for c in letters]
    return derive_state(count_categories(cats), suppress_errors=False)


def busy_time(spans: Iterable[tuple[float, float | None]]) -> tuple[float, float | None]:
    """How long something ran, from attempts' (started, ended) spans, an open one ended None:
    the seconds of the finished stretches (overlaps counted once), and when the stretch that
    still runs began (or None). The wait between a run's end and a later rerun does not count."""
    busy = 0.0
    start: float | None = None
    end = 0.0
    for s, e in sorted(spans, key=lambda span: span[0]):
        if start is not None and s > end:  # a gap: the stretch before it is finished
            busy += end - start
            start = None
        if start is None:
            start, end = s, s
        end = math.inf if e is None else max(end, e)
    if start is not None and end < math.inf:
        busy += end - start
    return busy, start if end == math.inf else None
