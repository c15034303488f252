"""The package's import graph, read from its source with `ast` (nothing is imported or run).

    python scripts/import_graph.py            # summary: layers, cycles, imports that point up
    python scripts/import_graph.py --edges    # every import between two packages, one a line
    python scripts/import_graph.py --dot      # the package graph for graphviz's `dot -Tsvg`

An import is one of three kinds: at module level (runs when the module is imported), typing
(under `if TYPE_CHECKING:`, never run) or lazy (inside a function, run when it is called).
The layers below are the architecture (ARCHITECTURE.md): a module may import from its own
layer's packages and from lower layers. The few lazy imports that must point up are listed in
DOCUMENTED_UPWARD with the reason; tests/test_layout.py fails on any other.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "conducto_nb"

# Lowest first. Each name is a subpackage or a top-level module of the package.
LAYERS: list[tuple[str, ...]] = [
    ("errors", "shared"),
    ("data", "nb"),  # co.data's client and co.nb run alone in containers: errors at most
    ("notebook",),  # co.Notebook's runner travels alone into images; its result is co.data's
    ("images",),
    ("model",),
    ("util",),
    ("store",),
    ("backends",),
    ("run", "events", "debug"),
    ("widget", "terminal"),
    ("main", "main_flags", "cli", "api", "integrations", "__init__", "lab"),
]

# The lazy imports (inside a function) that the rules above allow, each with its reason:
# (importing module, imported module or package) -> why. Each one's line, or the line above
# it, carries a comment saying so in the code too. Any other import that points up a layer,
# and any cycle that is left when these are taken out, is an error (tests/test_layout.py).
DOCUMENTED_LAZY: dict[tuple[str, str], str] = {
    ("model.nodes", "run.launch"): "up: Node.start() / run() / run_async() start a run",
    ("model.nodes", "run.runs"): "up (typing): Node.start() returns a Run",
    ("model.nodes", "widget"): "up: a node as a cell's last expression shows the live graph",
    ("run.runs", "widget"): "up: a run as a cell's last expression shows the live graph",
    ("run.results", "widget.result_view"): "up: a node's result in a cell shows its output",
    ("model.nodes", "model.serialize"): "cycle: Node.to_json() needs every node class, Exec too",
    ("run.runs", "run.adoption"): "cycle: an action on a Run may first adopt its pipeline",
    ("widget.display", "widget.model"): "cycle: the anywidget class only when [lab] is installed",
}


@dataclass(frozen=True)
class Import:
    source: str  # module path below the package, e.g. "model.nodes"
    target: str
    kind: str  # "module" | "typing" | "lazy"
    line: int
    commented: bool  # a comment on its line or the line above

    def why(self) -> str | None:
        """The documented reason for this import, if it is a documented lazy one."""
        if self.kind == "module":
            return None
        for (source, target), why in DOCUMENTED_LAZY.items():
            if self.source == source and (self.target + ".").startswith(target + "."):
                return why
        return None


def modules(package_dir: Path) -> dict[str, Path]:
    """Every module of the package by its dotted path below it ("run.runner", "__init__")."""
    found = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(package_dir).with_suffix("").parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts.pop()
        found[".".join(parts)] = path
    return found


def _is_package(name: str, known: dict[str, Path]) -> bool:
    return name == "__init__" or known[name].name == "__init__.py"


def _resolve(source: str, node: ast.ImportFrom | ast.Import, known: dict[str, Path]) -> list[str]:
    """The package modules one import statement names."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names if a.name.split(".")[0] == PACKAGE]
        return [_strip(n) for n in names if _strip(n) in known]
    if node.level == 0:
        if not node.module or node.module.split(".")[0] != PACKAGE:
            return []
        base = _strip(node.module)
    else:
        here = source.split(".") if source != "__init__" else []
        if not _is_package(source, known):
            here = here[:-1]
        here = here[: len(here) - (node.level - 1)] if node.level > 1 else here
        base = ".".join([*here, *(node.module.split(".") if node.module else [])]) or "__init__"
    found = []
    for alias in node.names:
        sub = f"{base}.{alias.name}" if base != "__init__" else alias.name
        found.append(sub if sub in known else base)
    return [f for f in dict.fromkeys(found) if f in known]


def _strip(dotted: str) -> str:
    rest = dotted.split(".")[1:]
    return ".".join(rest) or "__init__"


def _walk(tree: ast.AST, kind: str) -> Iterator[tuple[ast.Import | ast.ImportFrom, str]]:
    for child in ast.iter_child_nodes(tree):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child, kind
        elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            yield from _walk(child, "lazy")
        elif isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
            for stmt in child.body:
                yield from _walk(ast.Module(body=[stmt], type_ignores=[]), "typing")
            for stmt in child.orelse:
                yield from _walk(ast.Module(body=[stmt], type_ignores=[]), kind)
        else:
            yield from _walk(child, kind)


def imports(package_dir: Path) -> list[Import]:
    known = modules(package_dir)
    found = []
    for name, path in known.items():
        text = path.read_text()
        lines = ["", *text.splitlines()]
        tree = ast.parse(text, str(path))
        for node, kind in _walk(tree, "module"):
            line = node.lineno
            commented = "#" in lines[line] or lines[line - 1].strip().startswith("#")
            for target in _resolve(name, node, known):
                if target != name:
                    found.append(Import(name, target, kind, line, commented))
    return found


def layer_of(module: str) -> int:
    top = module.split(".")[0]
    for i, names in enumerate(LAYERS):
        if top in names:
            return i
    raise KeyError(f"{module} is in no layer: add its package to LAYERS in {__file__}")


def pointing_up(found: list[Import]) -> list[Import]:
    return [i for i in found if layer_of(i.target) > layer_of(i.source)]


def undocumented_upward(found: list[Import]) -> list[Import]:
    """Imports that point up and are not a documented lazy one."""
    return [i for i in pointing_up(found) if i.why() is None]


def uncommented(found: list[Import]) -> list[Import]:
    """Documented imports whose line says nothing about why (typing ones: only those up)."""
    documented = [i for i in found if i.why() is not None and not i.commented]
    return [i for i in documented if i.kind == "lazy" or layer_of(i.target) > layer_of(i.source)]


def undocumented_cycles(found: list[Import]) -> list[list[str]]:
    """Cycles among the imports that run (module-level and lazy), documented ones left out."""
    return cycles([i for i in found if i.why() is None], ("module", "lazy"))


def cycles(found: list[Import], kinds: tuple[str, ...]) -> list[list[str]]:
    """Strongly connected groups of more than one module over imports of these kinds (Tarjan)."""
    graph: dict[str, set[str]] = {}
    for i in found:
        if i.kind in kinds:
            graph.setdefault(i.source, set()).add(i.target)
            graph.setdefault(i.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    sys.setrecursionlimit(10_000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return groups


def depth(found: list[Import]) -> int:
    """Levels of the module-level import graph (longest chain of imports, plus one)."""
    graph: dict[str, set[str]] = {}
    for i in found:
        if i.kind == "module":
            graph.setdefault(i.source, set()).add(i.target)
    memo: dict[str, int] = {}

    def level(v: str, seen: frozenset[str]) -> int:
        if v in memo:
            return memo[v]
        below = [level(w, seen | {v}) for w in graph.get(v, ()) if w not in seen]
        memo[v] = 1 + max(below, default=0)
        return memo[v]

    return max((level(v, frozenset()) for v in graph), default=0)


def _package(module: str) -> str:
    return module.split(".")[0]


def summary(found: list[Import], count: int) -> str:
    kinds = {k: sum(i.kind == k for i in found) for k in ("module", "typing", "lazy")}
    lines = [
        f"{count} modules; {len(found)} imports between them: {kinds['module']} at module level,"
        f" {kinds['typing']} for typing only, {kinds['lazy']} inside functions;"
        f" {depth(found)} levels deep",
        "layers, lowest first: " + " < ".join(" = ".join(names) for names in LAYERS),
    ]
    lines.append(f"cycles over module-level imports: {_sizes(cycles(found, ('module',)))}")
    left = undocumented_cycles(found)
    lines.append(f"cycles over the imports that run, but the documented lazy ones: {_sizes(left)}")
    lines += [f"  {' '.join(g)}" for g in left]
    everything = cycles(found, ("module", "typing", "lazy"))
    lines.append(f"cycles counting every lazy and typing import too: {_sizes(everything)}")
    up = pointing_up(found)
    lines.append(f"imports that point up a layer: {len(up)}")
    pairs: dict[tuple[str, str, str], list[Import]] = {}
    for i in up:
        pairs.setdefault((i.source, i.target, i.kind), []).append(i)
    for (source, target, kind), each in pairs.items():
        why = each[0].why() or "NOT DOCUMENTED at line " + ", ".join(str(i.line) for i in each)
        lines.append(f"  {source} -> {target} ({len(each)} {kind}): {why}")
    lines.append("documented lazy imports (importing -> imported: why):")
    lines += [f"  {s} -> {t}: {w}" for (s, t), w in DOCUMENTED_LAZY.items()]
    lines += [f"  {i.source}:{i.line} has no comment saying why" for i in uncommented(found)]
    return "\n".join(lines)


def _sizes(groups: list[list[str]]) -> str:
    return ", ".join(f"{len(g)} modules" for g in groups) or "none"


def package_edges(found: list[Import]) -> list[str]:
    edges = {(_package(i.source), _package(i.target), i.kind) for i in found}
    return [f"{s} -> {t} ({k})" for s, t, k in sorted(edges) if s != t]


def dot(found: list[Import]) -> str:
    edges = {(_package(i.source), _package(i.target)) for i in found if i.kind == "module"}
    body = [f'  "{s}" -> "{t}";' for s, t in sorted(edges) if s != t]
    ranks = ["  { rank=same; " + " ".join(f'"{n}";' for n in names) + " }" for names in LAYERS]
    return "digraph conducto_nb {\n  rankdir=BT;\n" + "\n".join(ranks + body) + "\n}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edges", action="store_true", help="imports between packages")
    parser.add_argument("--dot", action="store_true", help="the package graph in DOT")
    args = parser.parse_args(argv)
    package_dir = ROOT / PACKAGE
    found = imports(package_dir)
    if args.dot:
        print(dot(found))
    elif args.edges:
        print("\n".join(package_edges(found)))
    else:
        print(summary(found, len(modules(package_dir))))
    broken = undocumented_upward(found) or undocumented_cycles(found) or uncommented(found)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
