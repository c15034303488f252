"""The lab extension's REST endpoints (conducto_nb/lab) on a real Jupyter server (pytest-jupyter's
`jp_fetch`), over a real store with pipelines run by other processes through the CLI: what the
side panel lists, what the graph tab draws, the actions, and the errors bad input gets."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from tests.wait_kit import until

CLI = [sys.executable, "-m", "conducto_nb.cli"]
Fetch = Callable[..., Awaitable[Any]]


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"conducto_nb.lab": True}}}


def _script(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "pipe.py"
    script.write_text(
        "import conducto_nb as co\n\nwith co.Serial(title='lab-demo') as root:\n"
        + textwrap.indent(textwrap.dedent(body), "    ")
    )
    return script


def _cli_run(script: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "run", str(script), "--backend", "local"],
        capture_output=True,
        text=True,
        timeout=120,
    )


async def _get(fetch: Fetch, *parts: str, **params: str) -> Any:
    response = await fetch("conducto-nb", "pipelines", *parts, params=params)
    return json.loads(response.body)


async def _post(fetch: Fetch, pipeline_id: str, what: str, body: dict[str, Any]) -> Any:
    response = await fetch(
        "conducto-nb", "pipelines", pipeline_id, what, method="POST", body=json.dumps(body)
    )
    return json.loads(response.body)


async def _error(fetch: Fetch, *parts: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    with pytest.raises(HTTPClientError) as caught:
        await fetch("conducto-nb", "pipelines", *parts, **kwargs)
    response = caught.value.response
    assert response is not None
    return caught.value.code, json.loads(response.body)


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A store of this test's own, shared by the server and the CLI runs it starts."""
    home = tmp_path / "home"
    monkeypatch.setenv("CONDUCTO_NB_HOME", str(home))
    return home


def _only_pipeline() -> str:
    from conducto_nb.run.runs import shared_store

    (summary,) = shared_store().list_pipelines()
    return summary.id


@pytest.fixture
def failed_by_cli(tmp_path: Path) -> str:
    """A pipeline another process (the CLI) ran to the end: one step done, one failed."""
    body = 'co.Exec("echo hello", name="ok")\nco.Exec("echo oops; exit 3", name="boom")\n'
    out = _cli_run(_script(tmp_path, body))
    assert out.returncode == 1, out.stdout + out.stderr
    return _only_pipeline()


async def test_the_panel_lists_a_pipeline_the_cli_ran_with_counts_and_times(
    jp_fetch: Fetch, failed_by_cli: str
) -> None:
    (listed,) = await _get(jp_fetch)
    assert listed["id"] == failed_by_cli and listed["name"] == "lab-demo"
    assert listed["state"] == "error" and listed["failed"] == 1
    assert listed["counts"] == {"done": 1, "error": 1}
    # (not compared with `created`: the store writer stamps that when it commits, which may
    # come after the first attempt started)
    assert listed["started"] > 0 and listed["ended"] >= listed["started"]
    assert listed["duration"] == pytest.approx(listed["ended"] - listed["started"])
    assert listed["owner_alive"] is False


async def test_the_graph_tab_gets_the_widget_s_tree_header_and_details(
    jp_fetch: Fetch, failed_by_cli: str
) -> None:
    graph = await _get(jp_fetch, failed_by_cli)
    tree, header = graph["tree"], graph["header"]
    assert tree["names"].split("/") == ["", "ok", "boom"] and tree["kinds"] == "SEE"
    assert header["id"] == failed_by_cli and header["live"] is False
    assert "rerun" in header["actions"] and "kill" in header["actions"]
    detail = await _get(jp_fetch, failed_by_cli, "detail", path="/boom")
    assert detail["type"] == "detail" and detail["state"] == "e"  # the widget's letter
    assert detail["stdout"] == "oops\n" and detail["attempts"][0]["exit_code"] == 3
    timeline = await _get(jp_fetch, failed_by_cli, "timeline")
    assert [row[0] for row in timeline["rows"]] == ["/ok", "/boom"]


async def test_bad_input_gets_a_json_error_not_a_traceback(
    jp_fetch: Fetch, failed_by_cli: str
) -> None:
    code, body = await _error(jp_fetch, "nope-nope")
    assert code == 404 and "nope-nope" in body["error"]
    code, body = await _error(jp_fetch, failed_by_cli, "detail", params={"path": "/nothing"})
    assert (code, body) == (404, {"error": f"pipeline {failed_by_cli} has no node /nothing"})
    code, body = await _error(jp_fetch, failed_by_cli, "detail")
    assert (code, body) == (400, {"error": "`path` is missing"})
    act = {"method": "POST", "body": json.dumps({"action": "explode", "path": "/"})}
    code, body = await _error(jp_fetch, failed_by_cli, "act", **act)
    assert code == 400 and body["error"].startswith("unknown action `explode`")
    act = {"method": "POST", "body": json.dumps({"action": "rerun", "path": "/nothing"})}
    code, body = await _error(jp_fetch, failed_by_cli, "act", **act)
    assert code == 404 and "/nothing" in body["error"]
    code, body = await _error(jp_fetch, failed_by_cli, "act", method="POST", body="{not json")
    assert code == 400 and body["error"].startswith("the body is not JSON")
    assert not any("Traceback" in json.dumps(b) for b in [body])


async def test_a_request_without_the_token_is_refused(jp_fetch: Fetch, failed_by_cli: str) -> None:
    for parts, kwargs in [
        ((), {}),
        ((failed_by_cli,), {}),
        ((failed_by_cli, "act"), {"method": "POST", "body": json.dumps({"action": "rerun"})}),
    ]:
        with pytest.raises(HTTPClientError) as caught:
            await jp_fetch(
                "conducto-nb", "pipelines", *parts, headers={"Authorization": ""}, **kwargs
            )
        assert caught.value.code == 403, parts
    from conducto_nb.run.runs import shared_store

    assert len(shared_store().load(failed_by_cli).attempts["/boom"]) == 1  # nothing reran


async def test_stop_reaches_the_live_owner_and_rerun_adopts_the_orphan(
    jp_fetch: Fetch, tmp_path: Path
) -> None:
    """Stop goes to the CLI process that runs the pipeline (its control channel); once that
    process has ended, rerun hands the pipeline to a background owner, as `rerun --detach`."""
    gate = tmp_path / "go"
    body = f'co.Exec("until test -f {gate}; do sleep 0.05; done", name="wait")\n'
    body += 'co.Exec("echo after", name="after")\n'
    script = _script(tmp_path, body)
    cli = subprocess.Popen(
        [*CLI, "run", str(script), "--backend", "local"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        async def listed() -> dict[str, Any]:
            return dict((await _get(jp_fetch))[0])

        await until(lambda: _store_state() == "running", what="the CLI's run runs")
        running = await listed()
        assert running["state"] == "running" and running["owner_alive"] is True
        pipeline_id = running["id"]
        acted = await _post(jp_fetch, pipeline_id, "act", {"action": "stop"})
        assert acted == {"type": "acted", "action": "kill", "path": "/", "ok": True}
        assert cli.wait(timeout=120) != 0  # the CLI saw its run killed and ended
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    stopped = await listed()
    assert stopped["state"] == "error" and stopped["owner_alive"] is False
    assert stopped["counts"]["killed"] == 1 and stopped["failed"] == 1
    acted = await _post(jp_fetch, pipeline_id, "act", {"action": "rerun", "path": "/"})
    assert acted["ok"] and "adopts it" in acted["note"]
    await until(lambda: _store_state() == "running", what="the adopter reruns it")
    gate.touch()
    await until(lambda: _store_state() == "done", what="the rerun ends done")
    rerun = await listed()  # not the row read while it had failed
    assert rerun["state"] == "done" and rerun["counts"] == {"done": 2}
    detail = await _get(jp_fetch, pipeline_id, "detail", path="/after")
    assert detail["stdout"] == "after\n"
    assert [
        a["attempt"]
        for a in (await _get(jp_fetch, pipeline_id, "detail", path="/wait"))["attempts"]
    ] == [1, 2]


def _store_state() -> str | None:
    from conducto_nb.run.runs import shared_store

    found = shared_store().list_pipelines()
    return found[0].state if found else None


async def test_debug_node_says_what_it_needs_until_the_debug_package_is_there(
    jp_fetch: Fetch, failed_by_cli: str
) -> None:
    """The hook "Debug node" calls (conducto_nb/lab/debug_hook.py): a node not in the tree is
    404; without conducto_nb.debug (issue 18), a 400 that says what is missing."""
    import importlib.util

    post = {"method": "POST", "body": json.dumps({"path": "/nothing"})}
    code, body = await _error(jp_fetch, failed_by_cli, "debug", **post)
    assert (code, body) == (404, {"error": f"pipeline {failed_by_cli} has no node /nothing"})
    graph = await _get(jp_fetch, failed_by_cli)
    if importlib.util.find_spec("conducto_nb.debug") is not None:
        assert "debug" in graph["header"]["actions"]
        return
    assert "debug" not in graph["header"]["actions"]  # no button that cannot work
    post = {"method": "POST", "body": json.dumps({"path": "/boom"})}
    code, body = await _error(jp_fetch, failed_by_cli, "debug", **post)
    assert code == 400 and "needs conducto_nb.debug" in body["error"]


async def test_a_run_whose_owner_died_lists_as_interrupted(jp_fetch: Fetch) -> None:
    from tests.owner_kit import killed_owner

    pipeline_id = killed_owner('co.Exec("sleep 60", name="wait")\n')
    (listed,) = await _get(jp_fetch)
    assert listed["id"] == pipeline_id and listed["state"] == "interrupted"
    assert listed["owner_alive"] is False and listed["ended"] is None


async def test_a_pipeline_a_kernel_of_this_server_ran_is_marked_in_this_lab(
    jp_fetch: Fetch, jp_serverapp: Any, failed_by_cli: str
) -> None:
    """The page announces the end of pipelines run elsewhere (the CLI, a webhook), not of
    those a notebook here runs: its own cell's graph shows that."""
    response = await jp_fetch("api", "kernels", method="POST", body=json.dumps({}))
    kernel_id = json.loads(response.body)["id"]
    client = jp_serverapp.kernel_manager.get_kernel(kernel_id).client()
    client.start_channels()
    try:
        await client.wait_for_ready(timeout=120)
        code = (
            "import conducto_nb as co\n"
            "with co.Serial() as root:\n"
            "    co.Exec('echo from a notebook', name='step')\n"
            "print(root.run(backend='local').state)\n"
        )
        said: list[str] = []
        reply = await client.execute_interactive(
            code, timeout=120, output_hook=lambda m: said.append(str(m["content"].get("text")))
        )
        assert reply["content"]["status"] == "ok" and "done\n" in said, said
        listed = {p["id"]: p["in_this_lab"] for p in await _get(jp_fetch)}
        assert listed.pop(failed_by_cli) is False
        assert list(listed.values()) == [True]
    finally:
        client.stop_channels()
        await jp_fetch("api", "kernels", kernel_id, method="DELETE")
