"""Exec (shell command or callable, and how keywords are routed) and Lazy."""

from __future__ import annotations

from typing import Any

import pytest

import conducto_nb as co


def build_report(path: str, *, fmt: str = "html", cpu: int = 1) -> str:
    return f"{path}:{fmt}:{cpu}"


def greet(name: str) -> str:
    return f"hello {name}"


def anything(*args: Any, **kwargs: Any) -> tuple[Any, ...]:
    return args, kwargs


def make_tree(n: int) -> co.Serial:
    with co.Serial() as out:
        for i in range(n):
            co.Exec(f"echo {i}", name=str(i))
    return out


def test_shell_exec() -> None:
    node = co.Exec("pytest -x tests", cpu=2)
    assert node.command == "pytest -x tests"
    assert node.command_obj.shell == "pytest -x tests"
    assert not node.command_obj.is_call
    assert node.own_params == {"cpu": 2}
    assert node.generates is False


def test_callable_exec_routes_keywords() -> None:
    node = co.Exec(build_report, "out.html", fmt="pdf", mem=4, name="report")
    assert node.name == "/"  # a root; the name counts once it has a parent
    assert node.own_params == {"mem": 4}
    func, args, kwargs = node.command_obj.call_parts()
    assert (func, args, kwargs) == (build_report, ("out.html",), {"fmt": "pdf"})
    assert func(*args, **kwargs) == "out.html:pdf:1"
    assert node.command_obj.is_call
    assert node.command == "build_report('out.html', fmt='pdf')"


def test_a_keyword_the_callable_declares_goes_to_the_callable() -> None:
    node = co.Exec(build_report, "out.html", cpu=8)
    assert node.command_obj.call_parts()[2] == {"cpu": 8}
    assert node.own_params == {}
    assert node.cpu == 1


def test_params_configures_the_node_when_names_collide() -> None:
    with co.Serial() as root:
        co.Exec(build_report, "out.html", cpu=8, params={"cpu": 2, "name": "report"})
        co.Exec(greet, name="world", params={"name": "greeting"})
    report, greeting = root["report"], root["greeting"]
    assert report.cpu == 2
    assert report.command_obj.call_parts()[2] == {"cpu": 8}
    func, args, kwargs = greeting.command_obj.call_parts()
    assert func(*args, **kwargs) == "hello world"


def test_a_callable_taking_any_keywords_still_leaves_node_parameters_to_the_node() -> None:
    node = co.Exec(anything, 1, cpu=2, colour="red")
    assert node.own_params == {"cpu": 2}
    assert node.command_obj.call_parts()[1:] == ((1,), {"colour": "red"})


def test_params_with_an_unknown_name_is_an_unknown_parameter() -> None:
    with pytest.raises(co.ParameterError, match=r"unknown parameter `cpus` \(did you mean `cpu`"):
        co.Exec(build_report, "x", params={"cpus": 2})


@pytest.mark.parametrize("command", ["", "   ", "\n"])
def test_exec_with_no_command(command: str) -> None:
    with co.Serial() as root, pytest.raises(co.CommandError) as info:
        co.Exec(command, name="build")
    assert str(info.value) == "/build: an Exec needs a command, got an empty string"
    assert isinstance(info.value, co.PipelineError)
    assert not root.children


def test_a_nul_byte_is_refused_when_the_node_is_built_naming_it() -> None:
    """Not later, when a shell or a container cannot take it (local: "embedded null byte";
    Docker dropped it without a word)."""
    with co.Serial() as root:
        with pytest.raises(co.CommandError) as info:
            co.Exec("echo a\0b", name="build")
        assert str(info.value) == "/build: the command contains a NUL byte (\\0)"
        with pytest.raises(co.ParameterError, match=r"/deploy: .*'TOKEN' contains a NUL byte"):
            co.Exec("true", name="deploy", env={"TOKEN": "x\0y"})
        step = co.Exec("true", name="step")
        with pytest.raises(co.ParameterError, match="NUL byte"):
            step.set_param("env", {"A": "\0"})
    assert list(root.children) == ["step"]


def test_exec_of_something_neither_command_nor_callable() -> None:
    with pytest.raises(co.CommandError, match="/: an Exec needs a shell command or a callable"):
        co.Exec(42)  # type: ignore[arg-type]


def test_shell_command_with_extra_positional_args() -> None:
    with co.Serial() as root, pytest.raises(co.CommandError) as info:
        co.Exec("echo", "hello", name="say")
    assert str(info.value).startswith("/say: a shell command takes no extra arguments")
    assert not root.children


@pytest.mark.parametrize(
    ("args", "kwargs", "problem"),
    [
        ((), {}, "missing a required argument: 'path'"),
        (("a", "b"), {}, "too many positional arguments"),
        (("a",), {"colour": "red"}, "unexpected keyword argument 'colour'"),
        (("a",), {"fmtt": "pdf"}, "unexpected keyword argument 'fmtt' (did you mean `fmt`?)"),
        (("a",), {"cpus": 2}, "unexpected keyword argument 'cpus' (did you mean `cpu`?)"),
    ],
)
def test_callable_arguments_must_bind(
    args: tuple[Any, ...], kwargs: dict[str, Any], problem: str
) -> None:
    with co.Serial() as root, co.Serial(name="docs"), pytest.raises(co.CommandError) as info:
        co.Exec(build_report, *args, name="report", **kwargs)
    message = str(info.value)
    assert message.startswith("/docs/report: `build_report(path, *, fmt='html', cpu=1)`")
    assert message.endswith(problem)
    assert not root["docs"].children


def test_callable_without_a_signature_is_not_checked() -> None:
    node = co.Exec(print, "hi", "there")
    assert node.command_obj.call_parts() == (print, ("hi", "there"), {})


def test_lazy_has_generate_and_execute_children() -> None:
    with co.Serial() as root:
        co.Lazy(make_tree, 3, name="dynamic", cpu=2)
    lazy = root["dynamic"]
    assert isinstance(lazy, co.Lazy)
    assert isinstance(lazy, co.Serial)
    assert list(lazy.children) == ["Generate", "Execute"]
    generate, execute = lazy["Generate"], lazy["Execute"]
    assert isinstance(generate, co.Exec)
    assert generate.generates is True
    assert isinstance(execute, co.Serial)
    assert execute.awaiting_generation is True
    assert not execute.children
    assert lazy.own_params == {"cpu": 2}
    assert generate.cpu == 2  # inherited from the Lazy node
    func, args, kwargs = generate.command_obj.call_parts()
    assert list(func(*args, **kwargs).children) == ["0", "1", "2"]
    # only the placeholder waits for generation; ordinary Serials do not
    assert lazy.awaiting_generation is False
    assert root.awaiting_generation is False


def test_lazy_with_a_shell_command() -> None:
    lazy = co.Lazy("python gen.py --n 3")
    assert lazy["Generate"].command == "python gen.py --n 3"
    assert lazy["Generate"].generates is True


def test_lazy_derives_its_name_from_the_generator() -> None:
    with co.Serial() as root:
        co.Lazy(make_tree, 1)
        co.Lazy("python gen.py")
    assert list(root.children) == ["make_tree", "python"]


def test_lazy_routes_keywords_like_exec() -> None:
    lazy = co.Lazy(build_report, "x", cpu=8, params={"mem": 1})
    assert lazy.own_params == {"mem": 1}
    assert lazy["Generate"].command_obj.call_parts()[2] == {"cpu": 8}


def test_lazy_whose_generator_does_not_bind() -> None:
    with co.Serial() as root, pytest.raises(co.CommandError) as info:
        co.Lazy(make_tree, name="dynamic")
    assert str(info.value).startswith("/dynamic/Generate: `make_tree(n)`")
    assert str(info.value).endswith("missing a required argument: 'n'")
    assert not root.children


def test_generates_and_command_obj_are_plain_attributes() -> None:
    node = co.Exec("true")
    node.generates = True
    assert node.generates is True
    assert co.Exec("true").generates is False


def test_an_exec_or_lazy_without_a_command_names_the_node() -> None:
    with pytest.raises(co.CommandError, match=r"^/build: an Exec needs a command"):
        with co.Serial():
            co.Exec(name="build")
    with pytest.raises(co.CommandError, match=r"^/gen/Generate: an Exec needs a command"):
        with co.Serial():
            co.Lazy(name="gen")


def test_cloudpickle_is_imported_with_the_first_callable_not_before() -> None:
    """A tree of shell commands never pays for cloudpickle's imports (~10 ms of a script's
    start). (A Notebook node's code still travels by value: tests/docker/test_notebook_docker.py
    runs one in an image without conducto_nb.)"""
    import subprocess
    import sys

    script = (
        "import sys\nimport conducto_nb as co\n"
        "co.Exec('echo shell', name='plain').run(backend='local')\n"
        "print('cloudpickle' in sys.modules)\n"
        "co.Exec(print, 'called', name='call').run(backend='local')\n"
        "print('cloudpickle' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.stdout.split() == ["False", "True"], out.stdout + out.stderr
