"""Callbacks with Conducto's names and meaning, on the local backend: retries, skipping,
more memory, Python callables, and the notifying ones against real servers on 127.0.0.1
(an SMTP server, HTTP servers shaped like Slack's webhook and GitHub's status API). Each firing
is recorded, in this process and in the store."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

import conducto_nb as co
from conducto_nb.model.serialize import dumps, loads
from conducto_nb.model.states import State

FLAKY = "n=$(cat {count} 2>/dev/null || echo 0); echo $((n+1)) > {count}; test $n -ge {fails}"


def messages(run: co.Run, path: str) -> list[str]:
    return [f.message for f in run[path].callbacks if f.ok is not None]


def test_retry_reruns_a_failing_node_until_it_passes(tmp_path: Path) -> None:
    with co.Serial() as root:
        flaky = co.Exec(FLAKY.format(count=tmp_path / "n", fails=2), name="flaky")
        flaky.on_error(co.callback.retry(3))
        co.Exec("echo after", name="after")
    run = root.run()
    assert run.state is State.DONE
    assert len(run["/flaky"].attempts) == 3
    assert messages(run, "/flaky") == ["retry 1 of 3", "retry 2 of 3"]
    assert run["/after"].stdout == "after\n"


def test_retry_stops_after_its_count_and_retry_then_skip_goes_on_without_the_node() -> None:
    with co.Serial(stop_on_error=False) as root:
        a = co.Exec("exit 3", name="a")
        a.on_error(co.callback.retry(1))
    run = root.run()
    assert run["/a"].state is State.ERROR and len(run["/a"].attempts) == 2
    assert messages(run, "/a") == ["retry 1 of 1", "1 retries used: not retried"]

    with co.Serial() as root:
        b = co.Exec("exit 3", name="b")
        b.on_error(co.callback.retry_then_skip(1))
        co.Exec("echo after", name="after")
    run = root.run()
    assert run.state is State.DONE, run.pretty()
    assert run["/b"].status.skipped and run["/after"].stdout == "after\n"
    assert messages(run, "/b")[-1] == "1 retries used: skipped /b"


def test_retry_with_double_mem_doubles_up_to_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONDUCTO_NB_MAX_MEM", "6")
    node = co.Exec("exit 1", mem=2)
    node.on_error(co.callback.retry_with_double_mem(5))
    run = node.run()
    assert len(run["/"].attempts) == 3
    assert run.tree.mem == 6
    assert messages(run, "/") == [
        "retry 1 of 5 with mem=4 GB (was 2)",
        "retry 2 of 5 with mem=6 GB (was 4)",
        "mem=6 GB is the most there is (6 GB): not retried",
    ]


def test_handle_memory_errors_leaves_other_failures_alone() -> None:
    node = co.Exec("exit 1")
    node.on_error(co.callback.handle_memory_errors())
    run = node.run()
    assert len(run["/"].attempts) == 1
    assert messages(run, "/") == ["not an out-of-memory failure: not retried"]


def test_skip_some_errors_skips_a_few_failures_and_refuses_many() -> None:
    with co.Serial() as root:
        with co.Parallel(name="shards") as shards:
            co.Exec("exit 1", name="one")
            co.Exec("exit 1", name="two")
            co.Exec("true", name="three")
        shards.on_error(co.callback.skip_some_errors(2))
        co.Exec("echo after", name="after")
    run = root.run()
    assert run.state is State.DONE, run.pretty()
    assert messages(run, "/shards") == ["skipped /shards/one, /shards/two"]

    with co.Parallel() as root:
        for name in ("one", "two", "three"):
            co.Exec("exit 1", name=name)
    root.on_error(co.callback.skip_some_errors(2))
    run = root.run()
    assert run.state is State.ERROR
    assert messages(run, "/") == ["3 failed nodes, over 2: nothing skipped"]


def test_a_python_callable_gets_the_nodes_result_and_a_failing_one_is_recorded() -> None:
    seen: list[tuple[str, int | None]] = []

    def note(result: co.NodeResult) -> str:
        seen.append((result.path, result.exit_code))
        return "noted"

    def broken(result: co.NodeResult) -> None:
        raise RuntimeError("the pager is down")

    with co.Serial(stop_on_error=False) as root:
        a = co.Exec("exit 4", name="a")
        a.on_error(note)
        a.on_error(broken)
    root.on_state_change(lambda result: None)
    run = root.run()
    assert seen == [("/a", 4)]  # the very function given, in this process
    fired = {f.label: f for f in run["/a"].callbacks if f.ok is not None}
    assert (
        fired[
            "test_a_python_callable_gets_the_nodes_result_and_a_failing_one_is_recorded.<locals>.note"
        ].message
        == "returned 'noted'"
    )
    failed = [f for f in run["/a"].callbacks if f.ok is False]
    assert [f.message for f in failed] == ["failed: RuntimeError: the pager is down"]
    assert run.state is State.ERROR  # the callbacks changed nothing else


def test_an_inherited_callback_fires_for_descendants_too(tmp_path: Path) -> None:
    with co.Serial() as root:
        co.Exec(FLAKY.format(count=tmp_path / "n", fails=1), name="flaky")
    root.on_error(co.callback.retry(2, inherited=True))
    run = root.run()
    assert run.state is State.DONE
    assert "retry 1 of 2" in messages(run, "/flaky")


def test_callbacks_survive_json_and_show_in_another_process() -> None:
    node = co.Exec("exit 1")
    node.on_error(co.callback.retry(1))
    node.on_done(co.callback.email(to="ops@example.com"))
    again = loads(dumps(node))
    assert [(e, c.label) for e, c in again.callbacks] == [
        ("error", "retry(max_num_retries=1)"),
        ("done", "email(to='ops@example.com', cc=None)"),
    ]
    run = node.run()
    shown = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
                import conducto_nb as co
                for f in co.load({run.id!r})["/"].callbacks:
                    print(f.event, f.label, f.ok, f.message, sep="|")
            """),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ.copy(),
    )
    assert "error|retry(max_num_retries=1)|True|retry 1 of 1" in shown.stdout, shown.stderr
    cli = [sys.executable, "-m", "conducto_nb.cli", "show", run.id, "/"]
    out = subprocess.run(cli, capture_output=True, text=True, timeout=60)
    assert "callback on error: retry(max_num_retries=1): retry 1 of 1" in out.stdout
    assert "callback on error: retry(max_num_retries=1): 1 retries used: not retried" in out.stdout


def test_on_error_refuses_what_is_no_callback() -> None:
    with pytest.raises(co.ParameterError, match=r"on_error takes a co\.callback"):
        co.Exec("true").on_error("retry")  # type: ignore[arg-type]


# -- notifications, to real servers on 127.0.0.1 ------------------------------------------------
class _Recorder(BaseHTTPRequestHandler):
    received: list[dict[str, Any]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.received.append(
            {"path": self.path, "headers": dict(self.headers), "json": json.loads(body)}
        )
        self.send_response(201)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []
    handler = type("Handler", (_Recorder,), {"received": received})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()


def test_slack_status_posts_to_the_webhook(http_server: tuple[str, list[dict[str, Any]]]) -> None:
    url, received = http_server
    node = co.Exec("exit 2", name="deploy")
    node.on_error(co.callback.slack_status(f"{url}/hooks/T000/B000", message="deploy broke"))
    run = node.run()
    assert messages(run, "/") == ["posted to Slack"]
    [post] = received
    assert post["path"] == "/hooks/T000/B000"
    assert post["json"]["text"].startswith("deploy broke")


def test_github_status_sets_the_commit_status(
    http_server: tuple[str, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, received = http_server
    monkeypatch.setenv("CONDUCTO_NB_GITHUB_API", url)
    monkeypatch.setenv("CONDUCTO_NB_GITHUB_TOKEN", "t0ken")
    sha = "0123456789abcdef0123456789abcdef01234567"
    with co.Serial() as root:
        co.Exec("true", name="test")
    root.on_done(co.callback.github_status("https://github.com/acme/shop", sha))
    root.on_done(co.callback.github_pipeline_status("acme/shop.git", sha))
    run = root.run()
    assert [m.startswith("GitHub status success") for m in messages(run, "/")] == [True, True]
    paths = {p["path"] for p in received}
    assert paths == {f"/repos/acme/shop/statuses/{sha}"}
    assert {p["json"]["context"] for p in received} == {"conducto_nb/", "conducto_nb"}
    assert all(p["headers"]["Authorization"] == "Bearer t0ken" for p in received)
    assert {p["json"]["state"] for p in received} == {"success"}


def test_a_notification_without_settings_says_what_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CONDUCTO_NB_GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    node = co.Exec("true")
    node.on_done(co.callback.github_status("acme/shop", "abc1234"))
    run = node.run()
    assert run.state is State.DONE
    [fired] = [f for f in run["/"].callbacks if f.ok is not None]
    assert fired.ok is False and "no token" in fired.message


def test_email_reaches_a_real_smtp_server(monkeypatch: pytest.MonkeyPatch) -> None:
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    class Inbox(Message):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.mails: list[Any] = []

        def handle_message(self, message: Any) -> None:
            self.mails.append(message)

    inbox = Inbox()
    with socket.socket() as probe:  # a free port (aiosmtpd's controller checks it connects)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = Controller(inbox, hostname="127.0.0.1", port=port)
    server.start()
    try:
        monkeypatch.setenv("CONDUCTO_NB_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("CONDUCTO_NB_SMTP_PORT", str(port))
        monkeypatch.setenv("CONDUCTO_NB_SMTP_FROM", "ci@example.com")
        node = co.Exec("echo the disk is full >&2; exit 5", name="backup")
        node.on_error(co.callback.email(to=["ops@example.com"], cc="lead@example.com"))
        run = node.run()
        assert messages(run, "/") == ["emailed ops@example.com, lead@example.com"]
    finally:
        server.stop()
    [mail] = inbox.mails
    assert mail["To"] == "ops@example.com" and mail["Cc"] == "lead@example.com"
    assert mail["Subject"] == f"[conducto_nb] pipeline {run.id} /: error (exit 5)"
    assert "the disk is full" in mail.get_payload()


def test_a_malformed_callback_is_recorded_and_the_run_goes_on() -> None:
    """A callback read back from a stored tree with arguments it cannot use fails on its own."""
    from types import MappingProxyType

    from conducto_nb.model.callbacks import Callback

    node = co.Exec("exit 1")
    node.on_error(Callback("retry", MappingProxyType({"max_num_retries": "many"})))
    run = node.run()
    assert run.state is State.ERROR
    [fired] = [f for f in run["/"].callbacks if f.ok is not None]
    assert fired.ok is False and fired.message.startswith("failed: ValueError")


def test_co_slack_posts_text_and_blocks_through_the_webhook(
    http_server: tuple[str, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, received = http_server
    monkeypatch.setenv("CONDUCTO_NB_SLACK_WEBHOOK", f"{url}/hooks/T1/B1")
    co.slack.text("#deploys", "shipped 1.2")
    co.slack.block(f"{url}/hooks/T2/B2", '[{"type": "divider"}]')
    assert [(p["path"], p["json"]) for p in received] == [
        ("/hooks/T1/B1", {"text": "shipped 1.2", "channel": "#deploys"}),
        ("/hooks/T2/B2", {"blocks": [{"type": "divider"}]}),
    ]
    with pytest.raises(co.ConfigError, match=r"co\.slack\.block: the blocks are not JSON"):
        co.slack.block("#deploys", "[{")
    monkeypatch.delenv("CONDUCTO_NB_SLACK_WEBHOOK")
    with pytest.raises(co.ConfigError, match=r"co\.slack\.text: no webhook"):
        co.slack.text("#deploys", "shipped")


def test_conductos_slack_class_posts_text_blocks_and_thread_replies(
    http_server: tuple[str, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, received = http_server
    monkeypatch.setenv("CONDUCTO_NB_SLACK_WEBHOOK", f"{url}/hooks/T1/B1")
    slack = co.integrations.slack.Slack()
    divider = [{"type": "divider"}]
    assert slack.message("#signals", text="found one", blocks=divider) == {}
    slack.message("#signals", text="more", thread_info={"thread_ts": "1.5"})
    assert [p["json"] for p in received] == [
        {"text": "found one", "blocks": divider, "channel": "#signals"},
        {"text": "more", "thread_ts": "1.5", "channel": "#signals"},
    ]
    with pytest.raises(co.ConfigError, match=r"Slack\(\)\.message: give text, blocks or both"):
        slack.message("#signals")


def test_co_git_apply_status_reports_every_node_for_the_events_commit(
    http_server: tuple[str, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, received = http_server
    monkeypatch.setenv("CONDUCTO_NB_GITHUB_API", url)
    monkeypatch.setenv("CONDUCTO_NB_GITHUB_TOKEN", "t0ken")
    monkeypatch.delenv("CONDUCTO_GIT_SHA", raising=False)
    monkeypatch.delenv("CONDUCTO_SHA", raising=False)
    with co.Serial() as root:
        co.Exec("true", name="test")
    co.git.apply_status(root)  # no event, no commit: nothing to report
    assert root.callbacks == ()
    sha = "89abcdef0123456789abcdef0123456789abcdef"
    monkeypatch.setenv("CONDUCTO_SHA", sha)  # what a `.conducto.cfg` command is given
    monkeypatch.setenv("CONDUCTO_GIT_URL", "git@github.com:acme/shop.git")
    co.git.apply_status(root)
    root.run()
    finals = {p["json"]["context"]: p["json"]["state"] for p in received}  # the last of each
    assert finals == {"conducto_nb/": "success", "conducto_nb/test": "success"}
    assert {p["path"] for p in received} == {f"/repos/acme/shop/statuses/{sha}"}
    assert "pending" in [p["json"]["state"] for p in received]  # and while they ran


def test_a_run_adopted_from_a_dead_owner_keeps_counting_its_retries(tmp_path: Path) -> None:
    """The owner used the retry; the process that adopts the run must not grant another."""
    script = textwrap.dedent("""
        import conducto_nb as co
        with co.Serial() as root:
            co.Exec("exit 3", name="flaky")
        root["flaky"].on_error(co.callback.retry(1))
        print(root.run().id)
    """)
    made = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    run = co.load(made.stdout.strip())  # its owner exited: this process adopts it
    assert messages(run, "/flaky") == ["retry 1 of 1", "1 retries used: not retried"]
    run.rerun("/flaky")
    run.wait()
    assert len(run["/flaky"].attempts) == 3  # the first, the retry, this rerun: no 4th
    assert messages(run, "/flaky")[-1] == "1 retries used: not retried"


def _flaky_tree(count: str) -> co.Serial:
    with co.Serial() as tree:
        flaky = co.Exec(FLAKY.format(count=count, fails=1), name="flaky")
        flaky.on_error(co.callback.retry(2))
    return tree


def test_a_callback_of_a_generated_tree_fires_though_the_tree_had_none(tmp_path: Path) -> None:
    """A run whose tree has no callback skips looking for them, until a Lazy node grafts a
    tree that has one."""
    with co.Serial() as root:
        co.Lazy(_flaky_tree, str(tmp_path / "n"), name="gen")
    run = root.run()
    assert run.state is State.DONE
    (path,) = [n.path for n in run.tree.walk() if n.name == "flaky"]
    assert "retry 1 of 2" in messages(run, path)
