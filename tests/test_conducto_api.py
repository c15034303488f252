"""Conducto 0.1.x names and spellings beyond the node classes, each in a small pipeline of the
kind its users wrote: `node.set(...)`, `co.lazy_py`, `co.lazy_shell`, `co.Params`, flags given
as text, `container_reuse_context` on every kind of node, `co.SameContainer.ESCAPE`,
`co.relpath`, `co.Path`, `co.Image.register_directory`."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import typing
from pathlib import Path

import pytest

import conducto_nb as co
from conducto_nb.model.states import State
from conducto_nb.run.scheduler import Action, ExecFinished, Scheduler, StartExec

NEW = co.ContainerReuseContext.NEW


# -- node.set ---------------------------------------------------------------------------------
def test_set_after_building_changes_only_what_is_given() -> None:
    def deploy(target: str) -> None:
        print("deploying", target)

    node = co.Exec(deploy, "staging", cpu=2)
    node.set(mem=4, doc="Ships it.")
    node.set(cpu=None, max_time="10m", skip="False")
    assert (node.cpu, node.mem, node.max_time, node.skip) == (2, 4, 600, False)
    assert node.params["doc"].value == "Ships it."


def test_set_name_puts_a_new_node_in_the_with_block() -> None:
    with co.Serial() as root:
        node = co.Exec("make", name="build")
        stray = co.Parallel()
    stray2 = co.Exec("true")
    with root:
        stray2.set(name="check")
    assert "check" in root.children and stray2.path == "/check"
    with pytest.raises(co.ParameterError, match=r"already at /build"):
        node.set(name="other")
    with pytest.raises(co.ParameterError, match="no `with` block is open"):
        co.Exec("true").set(name="x")
    late = co.Exec("true")
    with root, pytest.raises(co.TreeError, match="duplicate child name `build`"):
        late.set(name="build", cpu=3)
    assert late.own_params == {} and late.parent is None
    assert stray.parent is root


def test_set_with_a_bad_value_sets_nothing() -> None:
    node = co.Serial()
    with pytest.raises(co.ParameterError, match="`cpu` must be a number"):
        node.set(mem=8, cpu="lots")
    assert node.own_params == {}


# -- lazy_py / lazy_shell / Params ------------------------------------------------------------
def shards(n: int) -> co.Parallel:
    with co.Parallel() as p:
        for i in range(n):
            co.Exec(f"echo shard {i}", name=f"s{i}")
    return p


def test_lazy_py_and_lazy_shell_generate_their_subtrees(tmp_path: Path) -> None:
    script = tmp_path / "gen.py"
    script.write_text(
        textwrap.dedent("""
        import os
        import conducto_nb as co

        def tree() -> co.Serial:
            with co.Serial() as s:
                co.Exec(f"echo {os.environ['WHERE']}", name="say")
            return s

        if __name__ == "__main__":
            co.main(default=tree)
    """)
    )
    with co.Serial() as root:
        root["py"] = co.lazy_py(shards, 2)
        root["sh"] = co.lazy_shell(f"{sys.executable} {script}", env={"WHERE": "here"})
    assert root["sh"].env == {"WHERE": "here"}
    run = root.run(backend="local")
    assert run.state is State.DONE, run["/sh/Generate"].stderr
    assert run["/py/Execute/s1"].stdout == "shard 1\n"
    assert run["/sh/Execute/say"].stdout == "here\n"


def test_lazy_helpers_say_what_they_need() -> None:
    with pytest.raises(co.CommandError, match="lazy_py\\(\\) needs a Python callable"):
        co.lazy_py("echo hi")  # type: ignore[arg-type]
    with pytest.raises(co.CommandError, match="lazy_shell\\(\\) needs a shell command"):
        co.lazy_shell(shards)  # type: ignore[arg-type]


def test_params_gives_node_parameters_when_the_function_takes_the_same_name() -> None:
    def train(cpu: int) -> None:
        print(cpu)

    node = co.Exec(train, cpu=8, params=co.Params(cpu=2, mem=3))
    assert co.Params(cpu=2) == {"cpu": 2}
    assert (node.cpu, node.mem) == (2, 3)
    assert node.command.endswith("train(cpu=8)")


# -- flags given as text ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [("False", False), ("false", False), ("0", False), ("True", True), ("true", True), ("1", True)],
)
def test_flags_given_as_text_as_conductos_examples_did(text: str, expected: bool) -> None:
    with co.Serial(stop_on_error=text, suppress_errors=text) as root:
        co.Exec("true", name="x", skip=text, requires_docker=text)
    assert root.stop_on_error is expected and root.suppress_errors is expected
    assert root["x"].skip is expected and root["x"].requires_docker is expected
    assert root.to_json()["root"]["params"]["stop_on_error"] is expected


def test_a_flag_that_is_not_one_is_one_error_naming_it() -> None:
    with pytest.raises(co.ParameterError, match=r"`stop_on_error` must be True or False .*'maybe'"):
        co.Serial(stop_on_error="maybe")


def test_stop_on_error_false_as_text_runs_the_rest() -> None:
    with co.Serial(stop_on_error="False") as root:
        co.Exec("exit 3", name="fails")
        co.Exec("echo still", name="after")
    run = root.run(backend="local")
    assert run.state is State.ERROR
    assert run["/after"].stdout == "still\n"


# -- container_reuse_context on every kind ----------------------------------------------------
def starts(out: list[object]) -> list[tuple[str, str | None]]:
    return [(i.path, i.reuse_group) for i in out if isinstance(i, StartExec)]


def test_new_on_a_parallel_shares_one_container_one_child_at_a_time() -> None:
    with co.Parallel() as root:
        with co.Parallel(name="db", container_reuse_context=NEW):
            co.Exec("migrate", name="a")
            co.Exec("seed", name="b")
        co.Exec("lint", name="lint")
    s = Scheduler(root)
    assert starts(s.handle(Action("run", "/"))) == [("/db/a", "/db"), ("/lint", None)]
    assert starts(s.handle(ExecFinished("/db/a", s.attempts("/db/a"), State.DONE))) == [
        ("/db/b", "/db")
    ]


def test_new_on_an_exec_gives_it_a_fresh_container_of_its_own() -> None:
    with co.Serial(container_reuse_context=NEW) as root:
        co.Exec("build", name="build")
        co.Exec("check", name="fresh", container_reuse_context=NEW)
        co.Exec("pooled", name="pooled", same_container=co.SameContainer.ESCAPE)
    s = Scheduler(root)
    seen = starts(s.handle(Action("run", "/")))
    for path in ("/build", "/fresh"):
        seen += starts(s.handle(ExecFinished(path, s.attempts(path), State.DONE)))
    assert seen == [("/build", "/"), ("/fresh", "/fresh"), ("/pooled", None)]


def test_none_is_conductos_inherit() -> None:
    node = co.Exec("true", container_reuse_context=None)
    assert node.container_reuse_context is co.ContainerReuseContext.INHERIT
    assert co.SameContainer.INHERIT is co.ContainerReuseContext.INHERIT


# -- co.main with Conducto's flags ------------------------------------------------------------
SCRIPT = textwrap.dedent('''
    import conducto_nb as co

    def hello(who: str = "world") -> co.Serial:
        """
        Say hello
        to someone.
        """
        with co.Serial() as root:
            co.Exec(f"echo hello {who}", name="say")
        return root

    def count(n: int = 3):
        return list(range(n))

    def greet(name, times: int):
        return [name] * times

    if __name__ == "__main__":
        co.main(default=hello)
''')


def script_run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "pipeline.py"
    path.write_text(SCRIPT)
    env = {**os.environ, "CONDUCTO_NB_BACKEND": "local", "CONDUCTO_NB_HOME": str(tmp_path)}
    cmd = [sys.executable, str(path), *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)


def test_main_local_runs_here_with_the_shell_and_app_flags(tmp_path: Path) -> None:
    out = script_run(tmp_path, "--local", "--no-shell", "--no-app", "--who=you")
    assert out.returncode == 0, out.stderr
    assert out.stdout.rstrip().endswith(": done") and "co.load(" not in out.stdout
    out = script_run(tmp_path, "hello", "--run", "--sleep-when-done", "--no-shell", "--app")
    assert out.returncode == 0, out.stderr
    assert "open it live in a notebook: co.load('" in out.stdout


def test_main_runs_a_function_that_returns_no_node_and_prints_what_it_returns(
    tmp_path: Path,
) -> None:
    out = script_run(tmp_path, "count", "--n=2")
    assert (out.returncode, out.stdout) == (0, "[0, 1]\n")


@pytest.mark.parametrize(
    ("flag", "says"),
    [
        ("--cloud", "--cloud: there is no Conducto cloud here; pipelines run on this machine"),
        ("--k8s", "--k8s: there is no Conducto Kubernetes service here"),
        ("--run-at=2020-01-01", "--run-at: there is no Conducto scheduler here"),
        ("--public", "--public: there is no Conducto service"),
    ],
)
def test_main_service_only_flags_say_so_in_one_line(tmp_path: Path, flag: str, says: str) -> None:
    out = script_run(tmp_path, "--run", flag)
    assert out.returncode == 2
    assert out.stderr.startswith(f"pipeline.py: {says}")
    assert len(out.stderr.strip().splitlines()) == 1 and out.stdout == ""


def test_main_bad_input_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    out = script_run(tmp_path, "hello", "--whom=x")
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [
        "pipeline.py: `hello` has no option --whom (options: --who)"
    ]
    out = script_run(tmp_path, "greet", "--times=2")  # as Conducto's demo runs `no_types`
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == ["pipeline.py: `greet` needs --name=..."]
    assert script_run(tmp_path, "greet", "--name=x", "--times=2").stdout == "['x', 'x']\n"
    out = script_run(tmp_path, "--help")
    assert out.returncode == 0 and "usage: pipeline.py COMMAND" in out.stderr
    assert "  count --n" in out.stderr


def test_main_sets_title_doc_and_node_parameters_as_conducto_did(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def hello(who: str = "world") -> co.Serial:
        """
        Say hello.
        """
        with co.Serial() as root:
            co.Exec(f"echo hello {who}", name="say")
        return root

    node = co.main(variables={"hello": hello}, argv=["hello", "--title", "Greeting"], cpu=2)
    assert (node.title, node.doc, node.cpu) == ("Greeting", "Say hello.", 2)
    assert "say" in capsys.readouterr().out
    node = co.main(default=hello, argv=["--doc=Mine", "--who=you"], env={"A": "1"})
    assert (node.doc, node.env, node["say"].command) == ("Mine", {"A": "1"}, "echo hello you")
    assert co.main(hello, argv=["--who=me"])["say"].command == "echo hello me"  # type: ignore[arg-type]


# -- co.relpath, co.Path, co.Image.register_directory, Image keywords ------------------------
def test_relpath_in_a_command_is_the_local_path_when_it_runs_here(tmp_path: Path) -> None:
    data = tmp_path / "my data.txt"
    data.write_text("rows\n")
    with co.Serial() as root:
        co.Exec(f"cat {co.relpath(data)}", name="read")
    run = root.run(backend="local")
    assert run["/read"].stdout == "rows\n", run["/read"].stderr


def test_relpath_in_a_container_is_the_path_in_the_image(tmp_path: Path) -> None:
    from conducto_nb.images.paths import PathNotInImage, expand_for_container

    (tmp_path / "src").mkdir()
    image = co.Image(copy_dir=tmp_path)
    command = f"python {co.relpath(tmp_path / 'src' / 'job.py')} --in {co.relpath(tmp_path)}"
    assert expand_for_container(command, image) == (
        "python /conducto_nb/src/src/job.py --in /conducto_nb/src"
    )
    with pytest.raises(PathNotInImage, match="is not in the image's container"):
        expand_for_container(command, co.Image("alpine:3"))


def test_relpath_and_path_read_relative_paths_from_the_calling_file(tmp_path: Path) -> None:
    here = Path(__file__).parent
    assert co.relpath("data.csv") == f"__conducto_path:{here / 'data.csv'}:endpath__"
    p = co.Path.from_localhost("sub/x.txt")
    assert p == here / "sub/x.txt" and isinstance(p, Path)
    assert p.is_subdir_of(here) and not p.is_subdir_of(tmp_path)
    assert co.Path.from_dockerhost(str(tmp_path)).to_docker_host() == str(tmp_path)
    assert p.linear() == str(p)


def test_register_directory_names_an_existing_folder(tmp_path: Path) -> None:
    assert co.Image.register_directory("scratch", tmp_path) == tmp_path
    assert co.Image.share_directory("scratch", str(tmp_path)) == tmp_path
    with pytest.raises(co.ParameterError, match="is not a directory"):
        co.Image.register_directory("gone", tmp_path / "missing")
    image = co.Image("python:3.11-slim")
    with pytest.raises(AttributeError, match="an Image cannot change"):
        image.shell = "/bin/bash"


def test_image_takes_conductos_other_keywords(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    image = co.Image(
        "python:3.11-slim",
        copy_dir="app",
        instantiation_directory=str(tmp_path),
        shell=co.Image.AUTO,
        git_urls=["https://example.com/x.git"],
        pre_built=True,
        git_sha="abc",
    )
    assert image.copy_dir == str(tmp_path / "app")
    assert image.shell == co.Image.AUTO


def test_a_relative_path_map_target_is_in_the_copied_code(tmp_path: Path) -> None:
    (tmp_path / "app" / "lib").mkdir(parents=True)
    image = co.Image(copy_dir=tmp_path / "app", path_map={str(tmp_path / "app" / "lib"): "lib"})
    assert dict(image.path_map) == {str(tmp_path / "app" / "lib"): "/conducto_nb/src/lib"}
    with pytest.raises(co.ParameterError, match="relative to the copied code's folder"):
        co.Image("alpine:3", path_map={str(tmp_path): "lib"})


# -- an indented command runs as if written at the margin, as in Conducto ---------------------
def test_an_indented_command_with_a_heredoc_and_python_runs() -> None:
    with co.Serial() as root:
        co.Exec(
            f"""
            cat <<EOF
              tab\tkept
            EOF
            {sys.executable} -c '
            for i in range(2):
                print(i)
            '
            """,
            name="script",
        )
    assert root["script"].command.startswith("cat <<EOF\n  tab\tkept\nEOF\n")
    run = root.run(backend="local")
    assert run["/script"].stdout == "  tab\tkept\n0\n1\n", run["/script"].stderr


def test_main_options_read_lists_optionals_and_no_flags_as_conducto_did() -> None:
    def build(
        projects: typing.List[str],  # noqa: UP006 (Conducto's scripts wrote it so)
        shards: list[int] = [1],  # noqa: B006
        limit: typing.Optional[int] = None,  # noqa: UP045
        fast: bool = True,
    ) -> co.Parallel:
        with co.Parallel() as p:
            for project in projects:
                co.Exec(f"echo {project} {shards} {limit} {fast}", name=project)
        return p

    argv = ["--projects=api,web", "--shards", "2,4", "--limit=3", "--no-fast"]
    node = co.main(default=build, argv=argv)
    assert node["web"].command == "echo web [2, 4] 3 False"
    with pytest.raises(SystemExit, match="option --shards must be int, not 'x'"):
        co.main(default=build, argv=["--projects=a", "--shards=x"])


def test_reqs_py_conducto_asks_for_nothing_every_node_has_the_library() -> None:
    image = co.Image(
        "python:3.11-slim", reqs_py=["conducto", "Conducto==0.1.28", "conducto_nb", "boto3"]
    )
    assert image.install_pip == ("boto3",)
    assert co.Image(reqs_py=["conductor", "conducto-extras"]).install_pip == (
        "conductor",
        "conducto-extras",
    )


def test_a_script_a_local_node_runs_imports_conducto_nb(tmp_path: Path) -> None:
    """`python pipeline.py step`, as Conducto's examples ran it: the node's Python (here
    without any site-packages, -S) imports the package this pipeline runs with."""
    script = tmp_path / "pipeline.py"
    script.write_text("import conducto_nb as co\nprint(co.Serial.__name__, co.__file__)\n")
    with co.Serial() as root:
        co.Exec(f"{sys.executable} -S {script}", name="step")
    run = root.run(backend="local")
    assert run["/step"].state is State.DONE, run["/step"].stderr
    name, file = run["/step"].stdout.split()
    assert name == "Serial"
    lent = Path(file).parent.parent  # the folder the node's Python found it in
    assert sorted(p.name for p in Path(lent).iterdir()) == ["conducto_nb"]  # nothing else


def test_a_lazy_shell_command_runs_the_script_in_the_node_as_in_conducto(tmp_path: Path) -> None:
    """`co.Lazy("python pipeline.py shards --n=3")`, Conducto's way to build part of a tree
    in the node (its image asked for `reqs_py=["conducto"]`): the command's co.main prints
    the subtree, which is grafted and runs."""
    (tmp_path / "pipeline.py").write_text(
        textwrap.dedent(
            f"""
            import conducto_nb as co

            def main() -> co.Serial:
                image = co.Image(copy_dir=".", reqs_py=["conducto"])
                with co.Serial(image=image) as root:
                    co.Lazy("{sys.executable} -S pipeline.py shards --n=3", name="gen")
                return root

            def shards(n: int) -> co.Parallel:
                with co.Parallel() as p:
                    for i in range(int(n)):
                        co.Exec(f"echo shard {{i}}", name=f"s{{i}}")
                return p

            if __name__ == "__main__":
                co.main(default=main)
            """
        )
    )
    env = {**os.environ, "CONDUCTO_NB_BACKEND": "local"}
    done = subprocess.run(
        [sys.executable, "pipeline.py", "--local", "--no-shell"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    pipeline_id = done.stdout.split()[1]
    run = co.load(pipeline_id)
    assert [run[f"/gen/Execute/s{i}"].stdout for i in range(3)] == [
        f"shard {i}\n" for i in range(3)
    ]


def test_a_nodes_command_is_set_as_conducto_scripts_set_it() -> None:
    """`root.children["find primes"].command = "cat sieve_fixed.txt"`, as Conducto's
    examples fix a step; a bad command raises and the node keeps its own."""
    with co.Serial() as root:
        co.Exec("cat sieve.txt", name="find primes")
    root.children["find primes"].command = "cat sieve_fixed.txt"
    with pytest.raises(co.CommandError, match="an Exec needs a command, got an empty string"):
        root["find primes"].command = "   "
    assert root["find primes"].command == "cat sieve_fixed.txt"
    run = root.run(backend="local")
    assert "sieve_fixed.txt" in run["/find primes"].stderr  # what ran: no such file here


@pytest.mark.parametrize("name", ["profile", "schedule"])
def test_service_only_modules_say_what_to_use_instead(name: str) -> None:
    with pytest.raises(AttributeError, match=f"co.{name} .* which is gone; "):
        getattr(co, name)
    assert not hasattr(co, name)
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        co.nope  # type: ignore[attr-defined]  # noqa: B018


def test_conductos_node_spellings_path_stream_and_inherited_values() -> None:
    with co.Serial(image="python:3.11-slim", cpu=2) as root:
        with co.Parallel(name="test"):
            co.Exec("true", name="unit", cpu=1)
        co.Exec("true", name="ship", image=co.Image("python:3.11-slim", name="shop"))
    assert str(root["test/unit"]) == "/test/unit" and f"{root}" == "/"
    assert [str(n) for n in root.stream()] == ["/", "/test", "/test/unit", "/ship"]
    assert [str(n) for n in root.stream(reverse=True)] == ["/test/unit", "/test", "/ship", "/"]
    assert root["test/unit"].get_inherited_attribute("cpu") == 1
    assert root["test"].get_inherited_attribute("cpu") == 2
    assert root["test/unit"].image_name == "python:3.11-slim"
    assert root["ship"].image_name.startswith("conducto-nb/shop:")
    with pytest.raises(co.ParameterError, match=r"unknown parameter `cpus` \(did you mean `cpu`"):
        root.get_inherited_attribute("cpus")
