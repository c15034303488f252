"""The tree: `with` blocks, assignment, names, paths, lookups, pretty(), tree-shape errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import conducto_nb as co


def build_report(path: str) -> None:
    """A callable node for the tests."""


def example() -> co.Node:
    with co.Serial(image="python:3.11-slim") as root:
        co.Exec("pip install -r requirements.txt", name="install")
        with co.Parallel(name="test"):
            co.Exec("pytest tests/unit", name="unit")
            co.Exec("ruff check .", name="lint")
        co.Exec(build_report, "out.html", name="report")
    return root


def test_with_blocks_build_the_tree_in_order() -> None:
    root = example()
    assert isinstance(root, co.Serial)
    assert list(root.children) == ["install", "test", "report"]
    assert isinstance(root["test"], co.Parallel)
    assert [n.path for n in root.walk()] == [
        "/",
        "/install",
        "/test",
        "/test/unit",
        "/test/lint",
        "/report",
    ]
    unit = root["/test/unit"]
    assert (unit.name, unit.parent, unit.root) == ("unit", root["test"], root)
    assert (root.name, root.parent, root.path) == ("/", None, "/")


def test_paths_absolute_and_relative() -> None:
    root = example()
    test = root["test"]
    assert test["unit"] is root["/test/unit"]
    assert test["/install"] is root["install"]  # a leading "/" starts at the tree root
    assert test["/"] is root
    assert root["test/unit"] is root["/test/unit"]
    assert "test/lint" in root
    assert "test/nope" not in root


def test_missing_path_is_node_not_found() -> None:
    root = example()
    with pytest.raises(co.NodeNotFound) as info:
        root["/test/e2e"]
    assert "`/test/e2e`" in str(info.value)
    assert isinstance(info.value, KeyError)
    assert isinstance(info.value, co.TreeError)
    with pytest.raises(KeyError):
        root["test"]["install"]  # relative: there is no /test/install


def test_derived_names_are_unique() -> None:
    with co.Serial() as root:
        co.Exec("pytest -x")
        co.Exec("pytest tests/e2e")
        co.Exec("/usr/bin/make all")
        co.Exec(build_report, "a.html")
        co.Exec(lambda: None)
        co.Serial()
        co.Parallel()
        co.Parallel()
        co.Exec("pytest")
    assert list(root.children) == [
        "pytest",
        "pytest-2",
        "make",
        "build_report",
        "lambda",
        "serial",
        "parallel",
        "parallel-2",
        "pytest-3",
    ]


def test_an_explicit_name_that_was_derived_before_is_a_duplicate() -> None:
    with co.Serial() as root:
        co.Exec("pytest")
        with pytest.raises(co.TreeError, match="duplicate child name `pytest`"):
            co.Exec("pytest -x", name="pytest")
    assert list(root.children) == ["pytest"]


def test_names_may_contain_spaces_as_in_conducto() -> None:
    with co.Serial() as root:
        co.Exec("true", name="all together")
    assert root["all together"].path == "/all together"


def test_assignment_builds_the_same_tree() -> None:
    root = co.Serial(image="python:3.11-slim")
    root["install"] = co.Exec("pip install -r requirements.txt")
    root["test"] = co.Parallel()
    root["test/unit"] = co.Exec("pytest tests/unit")
    root["test"]["lint"] = co.Exec("ruff check .")
    root["/report"] = co.Exec(build_report, "out.html")
    assert root.to_json() == example().to_json()


def test_assignment_creates_intermediate_serials() -> None:
    root = co.Serial()
    root["test/unit/fast"] = co.Exec("pytest -m fast")
    assert isinstance(root["test"], co.Serial)
    assert isinstance(root["test/unit"], co.Serial)
    assert root["/test/unit/fast"].path == "/test/unit/fast"
    assert root["test/unit"].own_params == {}


def test_assignment_names_the_node_and_overrides_its_own_name() -> None:
    root = co.Serial()
    root["b"] = co.Exec("true", name="a")
    assert list(root.children) == ["b"]


def test_assignment_inside_a_with_block_places_the_node_once() -> None:
    with co.Serial() as root:
        co.Exec("true", name="first")
        root["test/unit"] = co.Exec("pytest")
        with co.Parallel(name="p"):
            root["p/x"] = co.Exec("echo x")
    assert [n.path for n in root.walk()] == ["/", "/first", "/test", "/test/unit", "/p", "/p/x"]


def test_assignment_inside_a_with_block_to_the_derived_name() -> None:
    with co.Serial() as root:
        root["pytest"] = co.Exec("pytest")  # was /pytest already, as it was built
        co.Exec("pytest -x")
    assert list(root.children) == ["pytest", "pytest-2"]


def test_a_node_built_earlier_in_a_block_cannot_be_moved_by_assignment() -> None:
    with co.Serial() as root:
        early = co.Exec("true", name="early")
        co.Exec("true", name="later")
        with pytest.raises(co.TreeError, match="already in a tree at /early"):
            root["moved"] = early
    assert list(root.children) == ["early", "later"]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("install", "/: duplicate child name `install`"),
        ("install/x", "/install: an Exec cannot have children"),
        ("install/x/y", "/install: an Exec cannot have children"),
        ("", "a node name must be a non-empty string"),
    ],
)
def test_failed_assignment_changes_nothing(path: str, message: str) -> None:
    root = co.Serial()
    root["install"] = co.Exec("pip install .")
    before = root.to_json()
    with pytest.raises(co.TreeError) as info:
        root[path] = co.Exec("true")
    assert message in str(info.value)
    assert root.to_json() == before


def test_failed_assignment_leaves_no_intermediate_nodes() -> None:
    root = co.Serial()
    other = co.Serial()
    other["x"] = co.Exec("true")
    with pytest.raises(co.TreeError, match="already in a tree at /x"):
        root["a/b/c"] = other["x"]
    assert not root.children


def test_a_node_cannot_be_placed_in_its_own_subtree() -> None:
    root = co.Serial()
    with pytest.raises(co.TreeError, match="inside its own subtree"):
        root["a/b"] = root
    assert not root.children
    with co.Serial() as outer, pytest.raises(co.TreeError, match="inside its own subtree"):
        outer["serial/x"] = co.Serial()  # the new Serial is /serial until it moves
    assert list(outer.children) == ["serial"]


@pytest.mark.parametrize("bad", ["a/b", "", "   ", "tab\there", 5])
def test_bad_names_in_with_blocks(bad: Any) -> None:
    with co.Serial() as root, pytest.raises(co.TreeError) as info:
        co.Exec("true", name=bad)
    assert str(info.value).startswith("/: ")
    assert not root.children


def test_slash_in_a_name_is_named_in_the_error() -> None:
    with co.Serial() as root, co.Parallel(name="test"), pytest.raises(co.TreeError) as info:
        co.Exec("true", name="unit/fast")
    assert (
        str(info.value) == "/test: node name 'unit/fast' may not contain '/' or control characters"
    )
    assert not root["test"].children


def test_duplicate_names_in_a_with_block() -> None:
    with co.Serial() as root, co.Parallel(name="test"):
        co.Exec("pytest tests/unit", name="unit")
        with pytest.raises(co.TreeError) as info:
            co.Exec("pytest tests/unit2", name="unit")
    assert str(info.value) == "/test: duplicate child name `unit`"
    assert root["/test/unit"].command == "pytest tests/unit"


def _bad_nodes() -> list[tuple[str, Callable[[], object]]]:
    def needs_two(a: int, b: int) -> None: ...

    return [
        ("unknown parameter", lambda: co.Exec("true", name="bad", cpus=2)),
        ("bad value", lambda: co.Serial(name="bad", mem=-1)),
        ("misplaced parameter", lambda: co.Parallel(name="bad", stop_on_error=False)),
        ("empty command", lambda: co.Exec("", name="bad")),
        ("shell with args", lambda: co.Exec("echo", "hi", name="bad")),
        ("callable that does not bind", lambda: co.Exec(needs_two, 1, name="bad")),
        ("lazy that does not bind", lambda: co.Lazy(needs_two, 1, name="bad")),
        ("derived name", lambda: co.Exec("pytest", cpu="lots")),
    ]


@pytest.mark.parametrize(("what", "make"), _bad_nodes(), ids=[w for w, _ in _bad_nodes()])
def test_a_node_that_failed_to_build_is_not_left_in_the_tree(
    what: str, make: Callable[[], object]
) -> None:
    with co.Serial() as root:
        co.Exec("true", name="ok")
        with pytest.raises(co.PipelineError):
            make()
        co.Exec("pytest")  # takes the derived name the failed node would have had
    assert list(root.children) == ["ok", "pytest"]
    assert [n.path for n in root.walk()] == ["/", "/ok", "/pytest"]


def test_an_error_inside_a_block_ends_the_block() -> None:
    with pytest.raises(co.ParameterError), co.Serial() as root:
        co.Exec("true", name="ok")
        co.Exec("true", name="bad", cpus=1)
    after = co.Exec("true")  # not adopted by the block that ended
    assert after.parent is None
    assert list(root.children) == ["ok"]


def test_a_root_made_outside_any_block_has_no_parent() -> None:
    with co.Serial() as root:
        pass
    node = co.Exec("true", name="lonely")
    assert (node.parent, node.path) == (None, "/")
    assert not root.children


def test_exec_cannot_have_children() -> None:
    with co.Exec("true") as ex:
        with pytest.raises(co.TreeError, match="an Exec cannot have children"):
            co.Exec("false")
    assert not ex.children


def test_pretty_draws_the_tree() -> None:
    root = example()
    root["test"].doc = "unit and lint"
    with root:
        co.Lazy(build_report, "x.html", name="gen")
    assert root.pretty() == (
        "/  Serial\n"
        "├─ install  Exec: pip install -r requirements.txt\n"
        "├─ test  Parallel\n"
        "│  ├─ unit  Exec: pytest tests/unit\n"
        "│  └─ lint  Exec: ruff check .\n"
        "├─ report  Exec: build_report('out.html')\n"
        "└─ gen  Lazy\n"
        "   ├─ Generate  Exec: build_report('x.html')  (generates the Lazy subtree)\n"
        "   └─ Execute  Serial"
    )
    assert root["test"].pretty() == (
        "/test  Parallel\n├─ unit  Exec: pytest tests/unit\n└─ lint  Exec: ruff check ."
    )
    assert repr(root.pretty()) == str(root.pretty())  # shows as text as a cell's last line


def test_pretty_with_statuses() -> None:
    root = example()
    text = root.pretty({"/test/unit": "done", "/": "running"})
    lines = text.splitlines()
    assert lines[0] == "/  Serial  [running]"
    assert lines[3] == "│  ├─ unit  Exec: pytest tests/unit  [done]"
    assert lines[4] == "│  └─ lint  Exec: ruff check ."


def test_repr() -> None:
    root = example()
    assert repr(root) == "<Serial / (3 children)>"
    assert repr(root["install"]) == "<Exec /install (0 children)>"


def test_replace_child_keeps_name_and_position() -> None:
    root = example()
    new = co.Parallel()
    old = root.replace_child("test", new)
    assert old.parent is None
    assert list(root.children) == ["install", "test", "report"]
    assert root["test"] is new
    with pytest.raises(co.TreeError, match="already in a tree"):
        root.replace_child("install", root["report"])
