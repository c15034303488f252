"""co.data (issue 17): objects shared by a pipeline's nodes, or kept across a user's runs, with
no shared filesystem. A real data service on 127.0.0.1, real processes: a three-node pipeline
on the local backend, the notebook process itself, tokens, bad names, a writer killed
mid-write."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import textwrap
import urllib.parse
from pathlib import Path

import pytest
from wait_kit import wait_for

import conducto_nb as co
from conducto_nb.data.commands import main as data_main
from conducto_nb.data.service import DataService, data_service
from conducto_nb.run.loop import background_loop

pytestmark = pytest.mark.usefixtures("data_home")  # a store of its own, no service env


ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "conducto_nb" / "data"


def _service(home: Path) -> DataService:
    return background_loop().submit(data_service(home)).result()


def _request(
    service: DataService, method: str, op: str, name: str, token: str | None, body: bytes = b""
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", service.port, timeout=60)
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    query = urllib.parse.urlencode({"name": name})
    conn.request(method, f"/v1/{op}/pipeline?{query}", body=body or None, headers=headers)
    response = conn.getresponse()
    try:
        return response.status, response.read()
    finally:
        conn.close()


# -- a pipeline's nodes -----------------------------------------------------------------------
def transform() -> None:
    raw = co.data.pipeline.gets("raw")
    co.temp_data.puts("out/upper", raw.strip().upper())
    co.data.user.puts("seen", b"by " + os.environ["CONDUCTO_PIPELINE_ID"].encode())


def test_three_nodes_on_the_local_backend_pass_data_along(data_home: Path) -> None:
    with co.Serial() as root:
        co.Exec("printf 'hello data' | conducto-data-pipeline puts --name raw", name="make")
        co.Exec(transform, name="transform")
        co.Exec(
            'test "$(conducto-data-pipeline gets --name out/upper)" = "HELLO DATA" && '
            "conducto-data-pipeline list && conducto-data-user exists --name seen",
            name="check",
        )
    run = root.run(backend="local")
    assert run.state is co.State.DONE, run["/check"].stderr + run["/transform"].stderr
    assert run["/check"].stdout == "out/upper\nraw\ntrue\n"
    stored = data_home / "data" / "pipelines" / run.id
    assert (stored / "out" / "upper").read_bytes() == b"HELLO DATA"
    assert (data_home / "data" / "user" / "seen").read_bytes() == f"by {run.id}".encode()


def test_a_missing_object_fails_the_node_naming_scope_and_name() -> None:
    with co.Serial() as root:
        co.Exec("conducto-data-pipeline gets --name nothing-here", name="reads")
    run = root.run(backend="local")
    assert run.state is co.State.ERROR
    assert "no object 'nothing-here' in the pipeline" in run["/reads"].stderr


def test_help_is_an_answer_and_no_command_an_error() -> None:
    """`conducto-data-pipeline --help`, a step of Conducto's own demo, succeeds and prints
    the commands; run with nothing, it fails saying how to use it."""
    with co.Parallel() as root:
        co.Exec("conducto-data-pipeline --help", name="help")
        co.Exec("conducto-data-user", name="nothing")
    run = root.run(backend="local")
    assert run["/help"].state is co.State.DONE
    assert run["/help"].stdout.startswith("usage: conducto-data-pipeline COMMAND")
    assert run["/nothing"].attempts[-1].exit_code == 2
    assert run["/nothing"].stderr.startswith("usage: conducto-data-user COMMAND")


# -- the notebook process, outside any pipeline -----------------------------------------------
def test_the_notebook_uses_the_store_directly(data_home: Path) -> None:
    co.perm_data.puts("notes/a", b"one")
    assert co.data.user.gets("notes/a") == b"one"
    assert co.data.user.gets("notes/a", byte_range=[1, 3]) == b"ne"
    assert co.data.user.list("notes/") == ["notes/a"]
    assert co.data.user.size("notes/a") == 3
    folder = data_home / "cached"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "f.txt").write_text("kept")
    co.data.user.save_cache("deps", "abc", str(folder))
    assert co.data.user.cache_exists("deps", "abc")
    co.data.user.restore_cache("deps", "abc", str(data_home / "back"))
    assert (data_home / "back" / "cached" / "sub" / "f.txt").read_text() == "kept"
    co.data.user.clear_cache("deps")
    assert not co.data.user.cache_exists("deps", "abc")
    co.data.user.delete("notes", recursive=True)
    assert co.data.user.list("") == []


def test_pipeline_data_outside_a_pipeline_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(co.DataError, match="pipeline data needs a pipeline"):
        co.data.pipeline.puts("x", b"1")
    monkeypatch.setenv("CONDUCTO_PIPELINE_ID", "p-given")
    co.data.pipeline.puts("x", b"1")  # as in a node: the pipeline its id names
    assert co.temp_data.gets("x") == b"1"


# -- the service: tokens, names, missing objects ----------------------------------------------
def test_a_wrong_or_missing_token_is_401_and_changes_nothing(data_home: Path) -> None:
    service = _service(data_home)
    token = service.token_for("p-one")
    assert _request(service, "PUT", "object", "x", token, b"good")[0] == 200
    for bad in (None, "wrong", ""):
        for method, body in (("PUT", b"evil"), ("DELETE", b""), ("GET", b"")):
            status, answer = _request(service, method, "object", "x", bad, body)
            assert status == 401, (method, bad)
            assert b"good" not in answer
    assert (data_home / "data" / "pipelines" / "p-one" / "x").read_bytes() == b"good"


def test_one_pipelines_token_cannot_read_anothers_data(
    data_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = _service(data_home)
    monkeypatch.setenv("CONDUCTO_DATA_URL", f"http://127.0.0.1:{service.port}")
    monkeypatch.setenv("CONDUCTO_DATA_TOKEN", service.token_for("p-one"))
    co.data.pipeline.puts("secret", b"one's")
    monkeypatch.setenv("CONDUCTO_DATA_TOKEN", service.token_for("p-two"))
    assert co.data.pipeline.list("") == []
    with pytest.raises(co.DataNotFound, match="no object 'secret' in the pipeline 'p-two'"):
        co.data.pipeline.gets("secret")
    status, _ = _request(service, "GET", "object", "../p-one/secret", service.token_for("p-two"))
    assert status == 400


@pytest.mark.parametrize("name", ["../x", "a/../../x", "/etc/passwd", "a\0b", ""])
def test_bad_names_are_refused_naming_the_name(
    name: str, data_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(co.DataError, match=repr(name).replace("\\", "\\\\")):
        co.data.user.puts(name, b"x")  # the notebook's store
    service = _service(data_home)
    monkeypatch.setenv("CONDUCTO_DATA_URL", f"http://127.0.0.1:{service.port}")
    monkeypatch.setenv("CONDUCTO_DATA_TOKEN", service.token_for("p-one"))
    with pytest.raises(co.DataError, match="name"):
        co.data.pipeline.puts(name, b"x")  # the client
    status, answer = _request(service, "PUT", "object", name, service.token_for("p-one"), b"x")
    assert status == 400 and "name" in json.loads(answer)["error"]  # the service itself
    assert list((data_home / "data").rglob("x")) == []


def test_a_missing_object_is_data_not_found_naming_scope_and_name(
    data_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = _service(data_home)
    monkeypatch.setenv("CONDUCTO_DATA_URL", f"http://127.0.0.1:{service.port}")
    monkeypatch.setenv("CONDUCTO_DATA_TOKEN", service.token_for("p-one"))
    with pytest.raises(co.DataNotFound, match="no object 'gone' in the user data") as e:
        co.data.user.gets("gone")
    assert isinstance(e.value, co.PipelineError) and isinstance(e.value, FileNotFoundError)
    with pytest.raises(co.DataNotFound, match="'gone' in the pipeline 'p-one'"):
        co.data.pipeline.delete("gone")


def test_the_client_runs_as_a_lone_file_with_only_the_standard_library(
    data_home: Path, tmp_path: Path
) -> None:
    service = _service(data_home)
    lone = tmp_path / "lone"
    lone.mkdir()
    for name in ("client.py", "commands.py"):  # what a container runs, and nothing else
        (lone / name).write_bytes((DATA / name).read_bytes())
    env = {
        "PATH": os.environ["PATH"],
        "CONDUCTO_DATA_URL": f"http://127.0.0.1:{service.port}",
        "CONDUCTO_DATA_TOKEN": service.token_for("p-lone"),
    }
    python = [sys.executable, "-E", "-s", str(lone / "commands.py"), "pipeline"]
    put = [*python, "puts", "--name", "n"]
    subprocess.run(put, input=b"from stdin", env=env, check=True, timeout=120)
    gets = [
        sys.executable,
        "-E",
        "-s",
        str(lone / "commands.py"),
        "pipeline",
        "gets",
        "--name",
        "n",
    ]
    done = subprocess.run(gets, env=env, capture_output=True, check=True, timeout=120)
    assert done.stdout == b"from stdin"
    missing = subprocess.run(
        [*gets[:-1], "nope"], env=env, capture_output=True, text=True, timeout=120
    )
    assert missing.returncode == 1 and "no object 'nope' in the pipeline 'p-lone'" in missing.stderr


def test_the_cli_lists_and_answers_exists_in_json(capsys: pytest.CaptureFixture[str]) -> None:
    co.data.user.puts("a/1", b"x")
    assert data_main(["user", "exists", "--name", "a/1"]) == 0
    assert data_main(["user", "list", "--prefix", "a/"]) == 0
    assert capsys.readouterr().out == "true\na/1\n"


# -- a writer killed mid-write ----------------------------------------------------------------
_SLOW_WRITER = textwrap.dedent("""
    import http.client, sys, urllib.parse
    port, token, how = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    def chunks():
        yield b"N" * 100000
        print("sent", flush=True)
        sys.stdin.read()  # never returns: the test kills this process here
    if how == "service":
        conn = http.client.HTTPConnection("127.0.0.1", port)
        query = urllib.parse.urlencode({"name": "obj"})
        conn.request("PUT", "/v1/object/user?" + query, body=chunks(),
                     headers={"Authorization": "Bearer " + token}, encode_chunked=True)
    else:
        from conducto_nb.data.store import scope
        scope("user", None).write("obj", chunks())
""")


@pytest.mark.parametrize("how", ["service", "store"])
def test_a_writer_killed_mid_write_leaves_the_old_object(how: str, data_home: Path) -> None:
    service = _service(data_home)
    co.data.user.puts("obj", b"old")
    tmp = data_home / "data" / ".tmp"
    with subprocess.Popen(
        [sys.executable, "-c", _SLOW_WRITER, str(service.port), service.token_for("p"), how],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    ) as writer:
        assert writer.stdout is not None and writer.stdout.readline() == b"sent\n"

        def half_written() -> bool:
            return any(f.stat().st_size > 0 for f in tmp.glob("put-*"))

        wait_for(half_written, 60, "the first chunk reaches the temporary file")
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    assert co.data.user.gets("obj") == b"old"
    if how == "service":  # the service drops the temporary file when the connection ends
        wait_for(lambda: not list(tmp.glob("put-*")), 60, "the temporary file goes")
    assert co.data.user.list("") == ["obj"]


def test_nodes_are_told_the_advertised_address_when_one_is_set(
    data_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = _service(data_home)
    assert service.env("p", "host.docker.internal")["CONDUCTO_DATA_URL"] == (
        f"http://host.docker.internal:{service.port}"
    )
    monkeypatch.setenv("CONDUCTO_NB_DATA_ADVERTISE", "10.1.2.3")
    env = service.env("p")
    assert env["CONDUCTO_DATA_URL"] == f"http://10.1.2.3:{service.port}"
    assert env["CONDUCTO_DATA_TOKEN"] == service.token_for("p") != service.token_for("q")
    monkeypatch.setenv("CONDUCTO_NB_DATA_ADVERTISE", "https://data.example:8443")
    assert service.env("p")["CONDUCTO_DATA_URL"] == "https://data.example:8443"


def test_the_methods_take_conductos_parameters() -> None:
    import inspect

    expected = {
        "puts": ["name", "obj"],
        "gets": ["name", "byte_range"],
        "put": ["name", "file", "skip_cleanup"],
        "get": ["name", "file", "local"],
        "exists": ["name"],
        "size": ["name"],
        "list": ["prefix"],
        "delete": ["name", "recursive"],
        "url": ["name", "path_only"],
        "cache_exists": ["name", "checksum"],
        "save_cache": ["name", "checksum", "save_dir"],
        "restore_cache": ["name", "checksum", "restore_dir"],
        "clear_cache": ["name", "checksum"],
    }
    for scope in (co.data.pipeline, co.data.user, co.temp_data, co.perm_data):
        for method, params in expected.items():
            assert list(inspect.signature(getattr(scope, method)).parameters) == params, method


def test_a_gateway_this_machine_cannot_listen_on_does_not_stop_the_run() -> None:
    """A daemon in a VM names a bridge gateway that is not this machine's address."""
    from conducto_nb.backends.local.backend import LocalBackend

    backend = LocalBackend()
    backend.data_bind = "192.0.2.1"  # TEST-NET-1: no machine's address
    with co.Serial() as root:
        co.Exec("echo ok | conducto-data-pipeline puts --name n", name="puts")
    run = root.run(backend=backend)
    assert run.state is co.State.DONE, run["/puts"].stderr
    background_loop().submit(backend.close()).result()


def test_the_service_starts_serving_only_when_a_node_connects(data_home: Path) -> None:
    """aiohttp is imported on the first connection: a run that never uses co.data does not
    pay for it, and one that does still finds the service (tests above)."""
    script = (
        "import sys\nimport conducto_nb as co\n"
        "co.Exec('echo no data', name='plain').run(backend='local')\n"
        "print('aiohttp' in sys.modules)\n"
        "co.Exec('echo x | conducto-data-pipeline puts --name x', name='data').run("
        "backend='local')\n"
        "print('aiohttp' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert out.stdout.split() == ["False", "True"], out.stderr
