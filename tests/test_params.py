"""The parameter table: defaults, which nodes take what, inheritance, `node.params`, validation."""

from __future__ import annotations

from typing import Any

import pytest

import conducto_nb as co


def test_defaults_from_the_table() -> None:
    values = co.Serial().params.values_only()
    assert values == {
        "image": None,
        "cpu": 1,
        "mem": 2,
        "gpu": 0,
        "env": {},
        "requires_docker": False,
        "docker_run_args": [],
        "max_time": 4 * 3600,
        "retries": 0,
        "max_concurrent": None,
        "skip": False,
        "suppress_errors": False,
        "doc": None,
        "title": None,
        "tags": [],
        "stop_on_error": True,
        "container_reuse_context": co.ContainerReuseContext.INHERIT,
    }
    assert {p.source for p in co.Serial().params.values()} == {"default"}


@pytest.mark.parametrize(
    ("node", "absent"),
    [
        (lambda: co.Serial(), set()),
        (lambda: co.Parallel(), {"stop_on_error"}),
        (lambda: co.Exec("true"), {"stop_on_error", "max_concurrent"}),
    ],
    ids=["Serial", "Parallel", "Exec"],
)
def test_each_kind_shows_only_the_parameters_it_takes(node: Any, absent: set[str]) -> None:
    everything = set(co.Serial().params)
    shown = set(node().params)
    assert shown == everything - absent


def test_child_inherits_nearest_ancestor_value_and_its_own_wins() -> None:
    with co.Serial(cpu=4, image="python:3.11-slim", retries=2) as root:
        with co.Parallel(name="test", cpu=2):
            co.Exec("pytest", name="unit")
            co.Exec("ruff check .", name="lint", cpu=0.5, image="alpine:3")
    unit, lint = root["/test/unit"].params, root["/test/lint"].params
    assert (unit["cpu"].value, unit["cpu"].source) == (2, "/test")
    assert (unit["image"].value, unit["image"].source) == ("python:3.11-slim", "/")
    assert (unit["retries"].value, unit["retries"].source) == (2, "/")
    assert (unit["mem"].value, unit["mem"].source) == (2, "default")
    assert (lint["cpu"].value, lint["cpu"].source) == (0.5, "/test/lint")
    assert (lint["image"].value, lint["image"].source) == ("alpine:3", "/test/lint")
    # attribute access reads the same effective values
    assert (root["/test/unit"].cpu, root["/test/lint"].image) == (2, "alpine:3")


def test_env_merges_key_by_key_with_the_child_winning() -> None:
    with co.Serial(env={"CI": "1", "LEVEL": "root"}) as root:
        with co.Serial(name="build", env={"LEVEL": "build", "OPT": "-O2"}):
            co.Exec("make", name="make", env={"TARGET": "all", "CI": "0"})
            co.Exec("make check", name="check")
    make = root["/build/make"].params["env"]
    assert make.value == {"CI": "0", "LEVEL": "build", "OPT": "-O2", "TARGET": "all"}
    assert make.source == "/, /build, /build/make"
    assert root["/build/check"].env == {"CI": "1", "LEVEL": "build", "OPT": "-O2"}
    # the parent's own env is untouched by its children
    assert root.env == {"CI": "1", "LEVEL": "root"}


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("doc", "Docs for the parent"),
        ("title", "Parent title"),
        ("tags", ["slow"]),
        ("skip", True),
        ("suppress_errors", True),
        ("max_concurrent", 3),
        ("stop_on_error", False),
        ("container_reuse_context", co.ContainerReuseContext.NEW),
    ],
)
def test_parameters_that_are_not_inherited(param: str, value: Any) -> None:
    with co.Serial(**{param: value}) as root:
        co.Serial(name="child")
    assert root.params[param].value == value
    child = root["child"].params[param]
    assert child.source == "default"
    assert child.value != value


def test_params_repr_lists_value_and_source() -> None:
    with co.Serial(cpu=3) as root:
        co.Exec("true", name="x")
    text = repr(root["x"].params)
    assert any(line.split() == ["cpu", "3", "/"] for line in text.splitlines())
    assert any(line.split() == ["gpu", "0", "default"] for line in text.splitlines())


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("90s", 90),
        ("10m", 600),
        ("1h30m", 5400),
        ("4h", 14400),
        ("2d", 172800),
        (45, 45),
        (1.5, 1.5),
    ],
)
def test_max_time_reads_durations_and_seconds(value: Any, seconds: float) -> None:
    assert co.Exec("true", max_time=value).max_time == seconds


@pytest.mark.parametrize(
    ("param", "given", "stored"),
    [
        ("env", {"PORT": 8080, "RATIO": 0.5}, {"PORT": "8080", "RATIO": "0.5"}),
        ("docker_run_args", "--shm-size 1g --init", ["--shm-size", "1g", "--init"]),
        ("tags", "slow", ["slow"]),
        ("container_reuse_context", "new", co.ContainerReuseContext.NEW),
        (
            "image",
            "registry.example.com:5000/team/app:1.2",
            "registry.example.com:5000/team/app:1.2",
        ),
    ],
)
def test_values_are_normalised(param: str, given: Any, stored: Any) -> None:
    assert co.Serial(**{param: given}).own_params[param] == stored


def test_own_params_do_not_alias_the_callers_objects() -> None:
    env = {"A": "1"}
    tags = ["x"]
    node = co.Serial(env=env, tags=tags)
    env["B"] = "2"
    tags.append("y")
    assert node.env == {"A": "1"}
    assert node.tags == ["x"]


BAD_VALUES = [
    ("cpu", "lots"),
    ("cpu", 0),
    ("cpu", True),
    ("mem", -1),
    ("mem", float("nan")),
    ("gpu", 1.5),
    ("gpu", -1),
    ("env", {"A": object()}),
    ("env", {"1BAD": "x"}),
    ("env", ["A=1"]),
    ("max_time", "soon"),
    ("max_time", 0),
    ("max_time", -5),
    ("max_time", ""),
    ("max_time", True),
    ("image", "Bad Image!"),
    ("image", 3),
    ("requires_docker", "maybe"),
    ("docker_run_args", ["--init", 3]),
    ("retries", -1),
    ("skip", 2),
    ("suppress_errors", None),
    ("doc", 5),
    ("title", ["a"]),
    ("tags", [1]),
]


@pytest.mark.parametrize(("param", "value"), BAD_VALUES)
def test_bad_value_is_one_parameter_error_naming_path_and_parameter(param: str, value: Any) -> None:
    with co.Serial() as root, co.Parallel(name="test"):
        co.Exec("true", name="ok")
        with pytest.raises(co.ParameterError) as info:
            co.Exec("pytest", name="unit", **{param: value})
    err = info.value
    assert str(err).startswith("/test/unit: ")
    assert f"`{param}`" in str(err)
    assert (err.path, err.param) == ("/test/unit", param)
    assert isinstance(err, co.PipelineError)
    assert isinstance(err, ValueError)
    assert list(root["test"].children) == ["ok"]  # the failed node is not left in the tree


@pytest.mark.parametrize(("param", "value"), [("max_concurrent", 0), ("max_concurrent", 1.5)])
def test_bad_max_concurrent(param: str, value: Any) -> None:
    with pytest.raises(co.ParameterError, match="`max_concurrent` must be an integer >= 1"):
        co.Parallel(**{param: value})


@pytest.mark.parametrize(
    ("typo", "meant"),
    [("cpus", "cpu"), ("memory", "mem"), ("stop_on_errors", "stop_on_error"), ("nmae", "name")],
)
def test_unknown_parameter_suggests_the_nearest_name(typo: str, meant: str) -> None:
    with co.Serial() as root, pytest.raises(co.ParameterError) as info:
        co.Serial(name="build", **{typo: 2})
    assert str(info.value) == f"/build: unknown parameter `{typo}` (did you mean `{meant}`?)"
    assert not root.children


def test_unknown_parameter_without_a_near_miss_has_no_hint() -> None:
    with pytest.raises(co.ParameterError) as info:
        co.Exec("true", zzz=1)
    assert str(info.value) == "/: unknown parameter `zzz`"


@pytest.mark.parametrize(
    ("make", "param", "kind"),
    [
        (co.Parallel, "stop_on_error", "Parallel"),
        (lambda **kw: co.Exec("true", **kw), "stop_on_error", "Exec"),
        (lambda **kw: co.Exec("true", **kw), "max_concurrent", "Exec"),
    ],
)
def test_parameter_on_the_wrong_kind_of_node(make: Any, param: str, kind: str) -> None:
    value = {"stop_on_error": False, "max_concurrent": 2}.get(param, co.ContainerReuseContext.NEW)
    with co.Serial() as root, pytest.raises(co.ParameterError) as info:
        make(name="n", **{param: value})
    assert str(info.value).startswith(f"/n: `{param}` applies only to ")
    assert str(info.value).endswith(f" nodes, not {kind}")
    assert not root.children


def test_same_container_is_an_alias() -> None:
    assert co.SameContainer.ESCAPE is co.SameContainer.GLOBAL is co.ContainerReuseContext.GLOBAL
    node = co.Serial(same_container=co.SameContainer.NEW)
    assert node.container_reuse_context is co.ContainerReuseContext.NEW
    assert node.own_params == {"container_reuse_context": co.ContainerReuseContext.NEW}


def test_setting_a_parameter_after_construction() -> None:
    with co.Serial() as root:
        co.Exec("true", name="x")
    root.cpu = 2
    root.env = {"A": 1}
    root["x"].max_time = "10m"
    assert (root["x"].params["cpu"].value, root["x"].params["cpu"].source) == (2, "/")
    assert root["x"].env == {"A": "1"}
    assert root["x"].max_time == 600


@pytest.mark.parametrize(("param", "value"), [("cpu", "lots"), ("max_time", "soon")])
def test_setting_a_bad_value_after_construction_fails_and_keeps_the_old_value(
    param: str, value: Any
) -> None:
    with co.Serial() as root:
        co.Exec("true", name="x", **{param: 3})
    with pytest.raises(co.ParameterError) as info:
        setattr(root["x"], param, value)
    assert str(info.value).startswith(f"/x: `{param}` ")
    assert root["x"].own_params[param] == 3


def test_setting_an_unknown_parameter_attribute_fails() -> None:
    with co.Serial() as root:
        co.Exec("true", name="x")
    with pytest.raises(co.ParameterError) as info:
        root["x"].cpus = 2  # type: ignore[attr-defined]
    assert str(info.value) == "/x: unknown parameter `cpus` (did you mean `cpu`?)"
    assert not hasattr(root["x"], "cpus")


def test_setting_a_parameter_on_the_wrong_kind_fails() -> None:
    node = co.Exec("true")
    with pytest.raises(co.ParameterError, match="`stop_on_error` applies only to Serial"):
        node.stop_on_error = False  # type: ignore[attr-defined]


def test_reading_a_parameter_a_kind_does_not_take_is_an_attribute_error() -> None:
    # hasattr / getattr with a default (and IPython, inspect) expect AttributeError
    node = co.Parallel()
    assert not hasattr(node, "stop_on_error")
    assert getattr(co.Exec("true"), "max_concurrent", "none") == "none"
    assert hasattr(co.Serial(), "stop_on_error")


def test_update_params_sets_nothing_when_one_is_bad() -> None:
    node = co.Serial(cpu=1)
    with pytest.raises(co.ParameterError, match="`mem`"):
        node.update_params({"cpu": 8, "mem": -1})
    assert node.own_params == {"cpu": 1}


def test_env_read_through_the_attribute_cannot_be_changed_in_place() -> None:
    with co.Serial(env={"A": "1"}) as root:
        child = co.Exec("true", name="c", env={"B": "2"})
    assert dict(child.env) == {"A": "1", "B": "2"}
    with pytest.raises(TypeError):
        child.env["C"] = "3"  # type: ignore[index]
    child.env = {**child.env, "C": "3"}
    assert dict(child.env) == {"A": "1", "B": "2", "C": "3"}
    assert dict(root.env) == {"A": "1"}


def test_a_jobs_values_are_the_params_table_without_sources() -> None:
    """param_values() (what each attempt is made of) follows the same rule as node.params,
    for every parameter, whether set on the node, an ancestor, several of them, or nowhere."""
    with co.Serial(env={"A": "root", "B": "root"}, cpu=2, retries=3) as root:
        with co.Parallel(env={"B": "mid", "C": "mid"}, image="python:3.11", skip=True) as mid:
            co.Exec("true", name="own", cpu=0.5, env={"C": "own"}, retries=1)
            co.Exec("true", name="inherits")
        co.Exec("true", name="top", max_time=5)
    for node in [root, mid, *root.stream()]:
        assert node.param_values() == node.params.values_only(), node.path
        for name in node.params:
            assert node.get_param(name) == node.params[name].value, (node.path, name)
    assert root[f"{mid.path}/own"].param_values()["env"] == {"A": "root", "B": "mid", "C": "own"}
    assert root[f"{mid.path}/inherits"].param_values()["cpu"] == 2


def test_a_jobs_values_follow_changes_made_after_they_were_read() -> None:
    """param_values() is kept between attempts; any change to a node's parameters or its
    place in the tree shows in the next read, wherever in the tree it was made."""
    with co.Serial(cpu=2) as root:
        co.Parallel(name="a", env={"A": "1"})
    step = co.Exec("true")  # in no tree yet
    assert step.param_values()["env"] == {}
    root["a/step"] = step  # placed: it inherits from a and the root now
    assert (step.param_values()["cpu"], step.param_values()["env"]) == (2, {"A": "1"})
    root.cpu = 4  # an ancestor, through the attribute
    assert step.param_values()["cpu"] == 4
    root["a"].update_params({"cpu": 5, "env": {"A": "2"}})
    assert (step.param_values()["cpu"], step.param_values()["env"]) == (5, {"A": "2"})
    step.set_param("cpu", 0.5)
    values = step.param_values()
    assert values["cpu"] == 0.5 and values == step.params.values_only()
    values["cpu"] = 99  # a caller's copy: what is kept does not change
    assert step.param_values()["cpu"] == 0.5
