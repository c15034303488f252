"""The package's layout holds: imports point down the layers of ARCHITECTURE.md, no cycle but
the documented lazy imports, every concept's folder says what it is. Measured by
scripts/import_graph.py, the same script anyone runs to see the graph."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "import_graph.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("import_graph", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being made
    spec.loader.exec_module(module)
    return module


graph = _load()
FOUND = graph.imports(ROOT / "conducto_nb")


def test_every_module_is_in_a_layer() -> None:
    for module in graph.modules(ROOT / "conducto_nb"):
        graph.layer_of(module)  # a KeyError names the module and where to add it


def test_imports_point_down_the_layers_but_the_documented_lazy_ones() -> None:
    wrong = [
        f"{i.source}:{i.line} -> {i.target} ({i.kind})" for i in graph.undocumented_upward(FOUND)
    ]
    assert wrong == []


def test_no_cycle_but_through_the_documented_lazy_imports() -> None:
    assert graph.undocumented_cycles(FOUND) == []
    assert graph.cycles(FOUND, ("module",)) == []  # importing any module alone works


def test_each_documented_lazy_import_is_in_the_code_and_says_why_there() -> None:
    for source, target in graph.DOCUMENTED_LAZY:
        assert any(
            i.source == source and (i.target + ".").startswith(target + ".") for i in FOUND
        ), f"{source} -> {target} is documented but no longer imported: take it off the list"
    assert [f"{i.source}:{i.line}" for i in graph.uncommented(FOUND)] == []


def test_each_concept_folder_says_what_it_is_and_what_it_may_import() -> None:
    package = ROOT / "conducto_nb"
    for init in sorted(package.glob("*/**/__init__.py")):
        if "node_modules" in init.parts:
            continue
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        name = init.parent.relative_to(package)
        assert len(doc.splitlines()) >= 3, f"{name}/__init__.py: say what the concept is"
        if name.name != "widget":
            assert "May import" in doc, f"{name}/__init__.py: say what it may import"


def test_the_checker_finds_an_import_up_a_layer_and_a_cycle(tmp_path: Path) -> None:
    """What the tests above rely on: a wrong import in a package of the same shape is found."""
    package = tmp_path / "conducto_nb"
    for folder, files in {
        "model": {"nodes.py": "def start():\n    from ..run import runner  # up\n"},
        "run": {"runner.py": "from ..model import nodes\n", "launch.py": "from . import runner\n"},
        "store": {"pipelines.py": "from ..run.launch import x\n"},
    }.items():
        (package / folder).mkdir(parents=True)
        (package / folder / "__init__.py").write_text("")
        for name, text in files.items():
            (package / folder / name).write_text(text)
    found = graph.imports(package)
    edges = {(i.source, i.target, i.kind) for i in found}
    assert edges == {
        ("model.nodes", "run.runner", "lazy"),
        ("run.runner", "model.nodes", "module"),
        ("run.launch", "run.runner", "module"),
        ("store.pipelines", "run.launch", "module"),
    }
    up = {(i.source, i.target) for i in graph.undocumented_upward(found)}
    assert up == {("model.nodes", "run.runner"), ("store.pipelines", "run.launch")}
    assert graph.undocumented_cycles(found) == [["model.nodes", "run.runner"]]


@pytest.mark.parametrize("flag", [[], ["--edges"], ["--dot"]])
def test_the_script_runs_and_passes_on_this_checkout(flag: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *flag], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    if not flag:
        assert "cycles over the imports that run, but the documented lazy ones: none" in done.stdout


def test_the_data_client_runs_alone_on_the_standard_library() -> None:
    """co.data's client runs in containers as lone files (bin/conducto-data-*): at module
    level they import the standard library and each other only; an import of the package
    (`..errors`) sits in a `try` whose `except ImportError` defines the same names."""
    allowed = sys.stdlib_module_names | {"__future__", "client"}

    def check(statements: list[ast.stmt], where: str, guarded: bool) -> None:
        for node in statements:
            if isinstance(node, ast.Import):
                names = [a.name.split(".")[0] for a in node.names]
                assert set(names) <= allowed, f"{where}:{node.lineno} imports {names}"
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    assert guarded, f"{where}:{node.lineno}: the package, unguarded"
                else:
                    assert (node.module or "").split(".")[0] in allowed, f"{where}:{node.lineno}"
            elif isinstance(node, ast.Try):
                catches = [h.type.id for h in node.handlers if isinstance(h.type, ast.Name)]
                check(node.body, where, "ImportError" in catches)
                for handler in node.handlers:
                    check(handler.body, where, False)

    for name in ("client.py", "commands.py", "store.py"):
        tree = ast.parse((ROOT / "conducto_nb" / "data" / name).read_text())
        check(tree.body, f"data/{name}", False)
