"""What a delivery's commands do: duplicate policies, untrusted forks, a receiver stopped and
served again, and `conducto-nb webhook serve` itself (errors included)."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from git_kit import commit, git
from wait_kit import wait_for
from webhook_kit import SECRET, Served, event_home, pull_request, push, send

from conducto_nb.model.secrets import write_scope
from conducto_nb.run.runs import load

# Says when it starts and ends, in $RUNS, and ends only once its release file exists.
HOLD = """
import os, pathlib, signal, sys, time
log = pathlib.Path(os.environ["RUNS"])
me = os.environ["CONDUCTO_NB_DELIVERY"]
def say(what):
    with open(log, "a") as f:
        f.write(f"{what} {me}\\n")
def stopped(*_):
    say("stopped")
    sys.exit(143)
signal.signal(signal.SIGTERM, stopped)
say("start")
while not log.with_name("release-" + me).exists():
    time.sleep(0.02)
say("end")
"""
SHOW_ENV = """
import os
print("token", os.environ.get("MY_TOKEN"), "untrusted", os.environ.get("CONDUCTO_NB_UNTRUSTED"))
"""
PIPELINES = """
import conducto_nb as co

def docker_ci() -> co.Serial:
    with co.Serial(requires_docker=True) as root:
        co.Exec("echo hello", name="hello")
    return root

def secret_ci() -> co.Serial:
    with co.Serial() as root:
        co.Exec("echo token=$T", name="deploy", env={"T": co.secret("DEPLOY_TOKEN")})
    return root
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = event_home(tmp_path, monkeypatch)
    home.mkdir()
    return home


def lines(tmp_path: Path) -> list[str]:
    log = tmp_path / "runs.log"
    return log.read_text().splitlines() if log.exists() else []


def release(tmp_path: Path, delivery: str) -> None:
    (tmp_path / f"release-{delivery}").touch()


def log_of(home: Path, delivery: str) -> str:
    path = home / "webhook" / f"{delivery}.log"
    return path.read_text() if path.exists() else ""


def hold_repo(repo: Path, duplicate: str = "SUPPRESS_NEW") -> str:
    cfg = f"[push]\ncommand = python hold.py\nduplicate = {duplicate}\n"
    return commit(repo, {".conducto.cfg": cfg, "hold.py": HOLD})


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("SUPPRESS_NEW", ["start d1", "end d1"]),
        ("ALLOW", ["start d1", "start d2", "end d1", "end d2"]),
        ("DEFER", ["start d1", "end d1", "start d2", "end d2"]),
        ("SLEEP_OLD", ["start d1", "stopped d1", "start d2", "end d2"]),
    ],
)
def test_duplicate_policies_for_the_same_event_and_branch(
    repo: Path, home: Path, tmp_path: Path, policy: str, expected: list[str]
) -> None:
    sha = hold_repo(repo, policy)
    server = Served(repo)
    try:
        assert server.post("push", push("refs/heads/main", sha), delivery="d1")[0] == 202
        wait_for(lambda: "start d1" in lines(tmp_path), 60, "d1 started")
        assert server.post("push", push("refs/heads/main", sha), delivery="d2")[0] == 202
        if policy == "SUPPRESS_NEW":
            wait_for(lambda: server.delivery("d2").state == "done", 60, "d2 suppressed")
            assert "suppressed" in server.delivery("d2").detail
        elif policy == "ALLOW":
            wait_for(lambda: "start d2" in lines(tmp_path), 60, "d2 started beside d1")
        elif policy == "DEFER":
            wait_for(lambda: "waiting" in log_of(home, "d2"), 60, "d2 waits for d1")
            assert "start d2" not in lines(tmp_path)
        else:
            wait_for(lambda: "start d2" in lines(tmp_path), 60, "d2 started, d1 stopped")
        release(tmp_path, "d1")
        if policy == "DEFER":
            wait_for(lambda: "start d2" in lines(tmp_path), 60, "d2 started after d1")
        if policy == "ALLOW":
            wait_for(lambda: "end d1" in lines(tmp_path), 60, "d1 ended while d2 goes on")
        release(tmp_path, "d2")
        server.call(server.receiver.dispatcher.idle())
    finally:
        server.stop()
    assert lines(tmp_path) == expected


def test_a_fork_pull_request_runs_without_secrets_or_the_docker_socket(
    repo: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = (
        "[pr env]\ncommand = python show_env.py\n"
        "[pr docker]\ncommand = conducto-nb run pipelines.py:docker_ci\n"
        "[pr secret]\ncommand = conducto-nb run pipelines.py:secret_ci\n"
    )
    commit(repo, {".conducto.cfg": cfg, "show_env.py": SHOW_ENV, "pipelines.py": PIPELINES})
    git(repo, "checkout", "-q", "-b", "evil")
    sha = commit(repo, {"f.txt": "from a fork"})
    monkeypatch.setenv("MY_TOKEN", "receiver-env-secret")
    write_scope(home, "user", {"DEPLOY_TOKEN": "stored-secret"})
    server = Served(repo, trusted_authors=["ada"])
    try:
        fork = pull_request("opened", 9, "evil", sha, login="mallory", head_owner="mallory")
        assert server.post("pull_request", fork, delivery="fork")[0] == 202
        friend = pull_request("opened", 10, "evil", sha, login="ada", head_owner="ada")
        assert server.post("pull_request", friend, delivery="friend")[0] == 202
        server.call(server.receiver.dispatcher.idle())
        untrusted, trusted = server.delivery("fork"), server.delivery("friend")
    finally:
        server.stop()
    log, friend_log = log_of(home, "fork"), log_of(home, "friend")
    assert "token None untrusted a pull request from a fork by mallory" in log, log
    assert "`requires_docker` refused: this run is untrusted" in log, log
    assert (untrusted.state, untrusted.trusted) == ("failed", False), log
    (secret_run,) = untrusted.pipelines  # the docker one was refused before it was made
    attempts = load(secret_run)["/deploy"].attempts
    assert "secret `DEPLOY_TOKEN` is not set" in str(attempts), (attempts, log)
    assert "token receiver-env-secret untrusted None" in friend_log, friend_log
    *_, friend_secret = trusted.pipelines
    assert load(friend_secret)["/deploy"].stdout == "token=***\n", friend_log


@pytest.mark.parametrize(("policy", "slots"), [("ALLOW", 1), ("DEFER", 16)])
def test_a_receiver_stopped_starts_what_it_accepted_when_served_again(
    repo: Path, home: Path, tmp_path: Path, policy: str, slots: int
) -> None:
    """d2 waits (for the one slot, or for d1 under DEFER) when the receiver stops."""
    sha = hold_repo(repo, policy)
    server = Served(repo, slots=slots)
    try:
        server.post("push", push("refs/heads/main", sha), delivery="d1")
        server.post("push", push("refs/heads/main", sha), delivery="d2")
        wait_for(lambda: "start d1" in lines(tmp_path), 60, "d1 started")
        wait_for(lambda: server.delivery("d2").state == slots_state(slots), 60, "d2 waits")
    finally:
        server.stop()
    assert lines(tmp_path) == ["start d1", "stopped d1"]
    other_repo = tmp_path / "other"
    other_repo.mkdir()
    git(other_repo, "init", "-q", "-b", "main")
    commit(other_repo, {".conducto.cfg": "[push]\ncommand = true\n"})
    other = Served(other_repo)  # the same store, another repository: not its deliveries
    try:
        other.call(other.receiver.dispatcher.idle())
        assert other.delivery("d2").state == "accepted"
    finally:
        other.stop()
    again = Served(repo)
    try:
        assert again.delivery("d1").state == "interrupted"
        wait_for(lambda: "start d2" in lines(tmp_path), 60, "d2 started on the next serve")
        release(tmp_path, "d2")
        again.call(again.receiver.dispatcher.idle())
        assert again.delivery("d2").state == "done"
    finally:
        again.stop()


def slots_state(slots: int) -> str:
    """A delivery waiting for a slot is still accepted; one waiting for DEFER's lock runs."""
    return "accepted" if slots == 1 else "running"


def serve_cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "conducto_nb.cli", "webhook", "serve", *args]


def test_webhook_serve_receives_until_sigterm(repo: Path, home: Path, tmp_path: Path) -> None:
    sha = hold_repo(repo)
    release(tmp_path, "cli-1")
    secret = tmp_path / "secret"
    secret.write_bytes(SECRET + b"\n")
    proc = subprocess.Popen(
        serve_cli("--repo", str(repo), "--secret-file", str(secret), "--port", "0"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("receiving GitHub deliveries on http://127.0.0.1:"), first
        port = int(first.rsplit(":", 1)[1].strip("/\n"))
        assert send(port, "push", push("refs/heads/main", sha), delivery="cli-1")[0] == 202
        wait_for(lambda: "end cli-1" in lines(tmp_path), 60, "the delivery ran")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "stopping: deliveries not started yet start on the next serve" in out
    assert "202 push cli-1: push runs" in out.splitlines()
    assert SECRET.decode() not in out + err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--secret-file", "{tmp}/nowhere"], "error: {tmp}/nowhere: no such secret file"),
        (["--secret-file", "{tmp}/empty"], "error: {tmp}/empty: the secret file is empty"),
        (["--port", "70000"], "error: --port 70000: a port is a number from 0 to 65535"),
        (["--repo", "{tmp}"], "is not a git repository"),
        (["--port", "{busy}"], "error: cannot listen on 127.0.0.1:{busy}: address already in use"),
    ],
)
def test_bad_input_to_serve_is_one_line_naming_it(
    repo: Path, home: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    commit(repo, {".conducto.cfg": "[push]\ncommand = true\n"})
    (tmp_path / "secret").write_text("s3cret\n")
    (tmp_path / "empty").write_text("\n")
    given = {"--repo": str(repo), "--secret-file": str(tmp_path / "secret")}
    with socket.socket() as busy:  # a port another server holds
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])

        def put(text: str) -> str:
            return text.replace("{tmp}", str(tmp_path)).replace("{busy}", port)

        given |= {k: put(v) for k, v in zip(args[::2], args[1::2], strict=True)}
        proc = subprocess.run(
            serve_cli(*[x for kv in given.items() for x in kv]),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 2
    assert put(message) in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_a_broken_cfg_stops_serve_before_it_listens(repo: Path, home: Path, tmp_path: Path) -> None:
    commit(repo, {".conducto.cfg": "[push]\ncommand = true\n[pushh]\ncommand = true\n"})
    (tmp_path / "secret").write_text("s3cret\n")
    proc = subprocess.run(
        serve_cli("--repo", str(repo), "--secret-file", str(tmp_path / "secret")),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: main:.conducto.cfg:3: unknown event 'pushh'")


def test_a_cfg_key_trusts_a_fork_author_for_its_section(
    repo: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = "[pr]\ncommand = python show_env.py\ntrusted_authors = mallory, eve\n"
    sha = commit(repo, {".conducto.cfg": cfg, "show_env.py": SHOW_ENV})
    monkeypatch.setenv("MY_TOKEN", "receiver-env-secret")
    server = Served(repo)
    try:
        fork = pull_request("reopened", 4, "main", sha, login="mallory", head_owner="mallory")
        assert server.post("pull_request", fork, delivery="known")[0] == 202
        server.call(server.receiver.dispatcher.idle())
    finally:
        server.stop()
    assert "token receiver-env-secret untrusted None" in log_of(home, "known")


def test_the_cfg_is_read_again_when_the_default_branch_moves(
    repo: Path, home: Path, tmp_path: Path
) -> None:
    say = (
        '[push]\ncommand = python -c \'import os; open(os.environ["RUNS"], "a").write("{}\\n")\'\n'
    )
    sha = commit(repo, {".conducto.cfg": say.replace("{}", "one")})
    server = Served(repo)
    try:
        server.post("push", push("refs/heads/main", sha), delivery="first")
        server.call(server.receiver.dispatcher.idle())
        sha = commit(repo, {".conducto.cfg": say.replace("{}", "two")})
        server.post("push", push("refs/heads/main", sha), delivery="second")
        server.call(server.receiver.dispatcher.idle())
    finally:
        server.stop()
    assert lines(tmp_path) == ["one", "two"]


def test_a_commit_the_receiver_lacks_is_fetched_from_origin(
    repo: Path, home: Path, tmp_path: Path
) -> None:
    """The receiver's clone is behind: a branch push and a fork's pull request (GitHub keeps
    its head at refs/pull/N/head) name commits it has never seen."""
    record = 'python -c \'import os; open(os.environ["RUNS"], "a").write(open("f").read())\''
    commit(repo, {".conducto.cfg": f"[push]\ncommand = {record}\n[pr]\ncommand = {record}\n"})
    origin = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(origin))
    served_clone = tmp_path / "served"
    git(tmp_path, "clone", "-q", str(origin), str(served_clone))
    git(repo, "checkout", "-q", "-b", "feat")
    feat = commit(repo, {"f": "feat\n"})
    git(repo, "push", "-q", str(origin), "feat")
    git(repo, "checkout", "-q", "-b", "forked", "main")
    forked = commit(repo, {"f": "forked\n"})
    git(repo, "push", "-q", str(origin), "forked:refs/pull/5/head")
    server = Served(served_clone, trusted_authors=["mallory"])
    try:
        assert server.post("push", push("refs/heads/feat", feat), delivery="feat")[0] == 202
        pr = pull_request("opened", 5, "forked", forked, login="mallory", head_owner="mallory")
        assert server.post("pull_request", pr, delivery="pr5")[0] == 202
        server.call(server.receiver.dispatcher.idle())
        assert {d.state for d in server.deliveries().values()} == {"done"}
    finally:
        server.stop()
    assert sorted(lines(tmp_path)) == ["feat", "forked"]
