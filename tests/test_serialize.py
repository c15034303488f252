"""A tree to JSON and back, losslessly; malformed input is one error naming the path."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

import conducto_nb as co
from conducto_nb.model.serialize import FORMAT, dumps, loads


def build_report(path: str, *, fmt: str = "html") -> str:
    return f"{path}:{fmt}"


def make_tree(n: int) -> co.Serial:
    with co.Serial() as out:
        for i in range(n):
            co.Exec(f"echo {i}", name=str(i))
    return out


def full_tree() -> co.Node:
    """Every kind of node, every parameter set somewhere, callables local to the test."""
    suffix = "!"

    def shout(word: str, times: int = 1) -> str:  # a closure: pickled by value
        return (word.upper() + suffix) * times

    with co.Serial(
        image="python:3.11-slim",
        env={"CI": "1", "PORT": 8080},
        stop_on_error=False,
        same_container=co.SameContainer.NEW,
        max_concurrent=2,
        doc="The *whole* pipeline",
        title="Pipeline",
        tags=["ci", "nightly"],
    ) as root:
        co.Exec("pip install -r requirements.txt", name="install", retries=2, max_time="1h30m")
        with co.Parallel(name="test", cpu=1.5, mem=1, gpu=1, suppress_errors=True):
            co.Exec("pytest tests/unit", name="unit", requires_docker=True)
            co.Exec("ruff check .", name="lint", docker_run_args="--init --shm-size 1g", skip=True)
            co.Exec(shout, "hi", times=2, name="shout", params={"cpu": 0.25})
            co.Exec(lambda: 42, name="answer")
        with co.Serial(name="deploy", skip=True, container_reuse_context="global"):
            co.Exec(build_report, "out.html", fmt="pdf", name="report", title=None)
        co.Lazy(make_tree, 3, name="dynamic", max_time=90)
        co.Lazy("python gen.py", name="from-shell")
    return root


def test_round_trip_is_lossless() -> None:
    root = full_tree()
    data = root.to_json()
    assert data["format"] == FORMAT
    back = co.Node.from_json(data)
    assert back.to_json() == data
    assert json.loads(json.dumps(data)) == data  # JSON-ready: no tuples, enums or bytes
    assert co.Node.from_json(json.loads(json.dumps(data))).to_json() == data


def test_round_trip_keeps_structure_types_params_and_flags() -> None:
    root = full_tree()
    back = co.Node.from_json(root.to_json())
    assert [(n.path, type(n)) for n in back.walk()] == [(n.path, type(n)) for n in root.walk()]
    for old, new in zip(root.walk(), back.walk(), strict=True):
        assert dict(new.own_params) == dict(old.own_params), old.path
        assert new.params == old.params, old.path
    assert back["/test/lint"].skip is True
    assert back["/deploy"].skip is True
    assert back.container_reuse_context is co.ContainerReuseContext.NEW
    assert back["/deploy"].container_reuse_context is co.ContainerReuseContext.GLOBAL
    assert back["/install"].max_time == 5400
    assert back["/dynamic/Generate"].generates is True
    assert back["/dynamic/Execute"].awaiting_generation is True
    assert back["/dynamic"].awaiting_generation is False
    assert back["/install"].generates is False


def test_deserialised_callables_are_still_callable_with_their_args() -> None:
    back = co.Node.from_json(full_tree().to_json())
    cases = {
        "/test/shout": "HI!HI!",
        "/test/answer": 42,
        "/deploy/report": "out.html:pdf",
    }
    for path, result in cases.items():
        func, args, kwargs = back[path].command_obj.call_parts()
        assert func(*args, **kwargs) == result, path
    func, args, kwargs = back["/dynamic/Generate"].command_obj.call_parts()
    assert list(func(*args, **kwargs).children) == ["0", "1", "2"]
    assert back["/test/shout"].command == "full_tree.<locals>.shout('hi', times=2)"
    assert back["/from-shell/Generate"].command == "python gen.py"


def test_execs_of_one_function_read_back_as_it_was_when_each_tree_was_written() -> None:
    """A fan-out of one no-argument function shares one pickle within a tree; a tree written
    later pickles the function as it is then (a value it closes over, changed meanwhile)."""
    counter = {"value": 1}

    def read_counter() -> int:
        return counter["value"]

    with co.Parallel() as first:
        for i in range(3):
            co.Exec(read_counter, name=f"n{i}")
        co.Exec(build_report, "b.txt", name="other")
    before = loads(dumps(first))
    counter["value"] = 2
    with co.Parallel() as second:
        co.Exec(read_counter, name="n0")
    after = loads(dumps(second))
    calls = [before[f"/n{i}"].command_obj.call_parts() for i in range(3)]
    assert [f(*a, **k) for f, a, k in calls] == [1, 1, 1]
    f, a, k = after["/n0"].command_obj.call_parts()
    assert f(*a, **k) == 2
    f, a, k = before["/other"].command_obj.call_parts()
    assert f(*a, **k) == "b.txt:html"


def test_dumps_and_loads() -> None:
    root = full_tree()
    text = dumps(root)
    assert isinstance(text, str)
    assert loads(text).to_json() == root.to_json()
    assert loads(text.encode()).to_json() == root.to_json()
    assert dumps(loads(text)) == text


def test_a_subtree_round_trips_too() -> None:
    test = full_tree()["test"]
    data = test.to_json()
    assert data["root"]["name"] == "/"
    back = co.Node.from_json(data)
    assert back.to_json() == data
    assert [n.path for n in back.walk()] == ["/", "/unit", "/lint", "/shout", "/answer"]


def test_only_own_params_are_written() -> None:
    with co.Serial(cpu=4) as root:
        co.Exec("true", name="x")
    assert root.to_json()["root"] == {
        "type": "Serial",
        "name": "/",
        "params": {"cpu": 4},
        "children": [{"type": "Exec", "name": "x", "command": {"shell": "true"}}],
    }


def test_reading_a_tree_inside_a_with_block_does_not_join_the_block() -> None:
    data = full_tree().to_json()
    with co.Serial() as outer:
        back = co.Node.from_json(data)
    assert not outer.children
    assert back.parent is None


def test_unpicklable_arguments_fail_at_serialisation_naming_the_path() -> None:
    with co.Serial() as root:
        co.Exec(build_report, threading.Lock(), name="locked")  # type: ignore[arg-type]
    with pytest.raises(co.SerializationError) as info:
        root.to_json()
    assert str(info.value).startswith("/locked: cannot pickle `build_report(<unlocked ")


def tree(*children: dict[str, Any], **root: Any) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "root": {"type": "Serial", "name": "/", **root, "children": list(children)},
    }


def exec_(name: str, **extra: Any) -> dict[str, Any]:
    return {"type": "Exec", "name": name, "command": {"shell": "true"}, **extra}


def test_a_minimal_hand_written_tree_reads() -> None:
    node = co.Node.from_json(tree(exec_("a"), {"type": "Parallel", "name": "p"}))
    assert list(node.children) == ["a", "p"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"format": "conducto/0", "root": {}}, "not a conducto_nb/1 tree (format: 'conducto/0')"),
        ({"root": {"type": "Serial"}}, "not a conducto_nb/1 tree (format: None)"),
        ([1, 2], "not a conducto_nb/1 tree (format: 'list')"),
        ({"format": FORMAT}, "/: expected a node with a type among"),
        (
            {"format": FORMAT, "root": {"type": "Sequential"}},
            "/: expected a node with a type among",
        ),
        (tree({"type": "Exex", "name": "unit"}), "/unit: expected a node with a type among"),
        (tree(exec_("unit", params={"cpu": "lots"})), "/unit: `cpu` must be a number > 0"),
        (tree(exec_("unit", params={"cpus": 2})), "/unit: unknown parameter `cpus`"),
        (tree(exec_("unit", params={"max_concurrent": 2})), "/unit: `max_concurrent` applies only"),
        (tree(params={"max_time": "soon"}), "/: `max_time` must be seconds or a duration"),
        (tree(params={"container_reuse_context": "sometimes"}), "/: `container_reuse_context`"),
        (tree(params=["cpu", 2]), "/: `params` must be an object"),
        (tree(params={"name": 5}), "/: a node name must be a non-empty string"),
        (tree(exec_("a"), exec_("a")), "/a: duplicate child name `a`"),
        (tree(exec_("x", children=[exec_("y")])), "/x/y: an Exec cannot have children"),
        (tree({"type": "Exec", "name": "x"}), "/x: malformed Exec command {}"),
        (tree({"type": "Exec", "name": "x", "command": "ls"}), "/x: malformed Exec command 'ls'"),
        (tree(exec_("x", command={"shell": " "})), "/x: an Exec needs a command"),
        (tree(exec_("x", command={"call": 5, "display": "f()"})), "/x: malformed Exec command"),
        ({"format": FORMAT, "root": {"type": "Serial", "children": "ab"}}, "/: `children` must"),
        (tree({"type": "Exec", "command": {"shell": "true"}}), "/: child 0 has no `name`"),
        (tree("Exec"), "/: child 0 has no `name`"),
    ],
)
def test_malformed_input_is_one_serialization_error_naming_the_path(
    data: Any, message: str
) -> None:
    with pytest.raises(co.SerializationError) as info:
        co.Node.from_json(data)
    assert str(info.value).startswith(message)
    assert isinstance(info.value, co.PipelineError)


def test_malformed_nested_input_names_the_full_path() -> None:
    data = tree(
        {"type": "Parallel", "name": "test", "children": [exec_("unit", params={"mem": -1})]}
    )
    with pytest.raises(co.SerializationError) as info:
        co.Node.from_json(data)
    assert info.value.path == "/test/unit"
    assert str(info.value) == "/test/unit: `mem` must be a number > 0, not -1"


@pytest.mark.parametrize("text", ["{not json", b"\xff\xfe", ""])
def test_loads_rejects_text_that_is_not_json(text: str | bytes) -> None:
    with pytest.raises(co.SerializationError, match="not JSON"):
        loads(text)
