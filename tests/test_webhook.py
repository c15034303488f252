"""The webhook receiver over real HTTP on 127.0.0.1: what each delivery is answered, what it
records and the one run it starts (tests/webhook_kit.py has the server and the payloads)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from git_kit import commit, git
from wait_kit import wait_for
from webhook_kit import SECRET, Served, create, delete, event_home, ping, pull_request, push

from conducto_nb.events.webhook.payload import PayloadError, map_payload
from conducto_nb.events.webhook.signature import sign
from conducto_nb.run.runs import load

# Each run appends its event and values to `runs.log` in the repository's parent folder.
RECORD = (
    'python -c \'import sys; open(sys.argv[1], "a").write(" ".join(filter(None, sys.argv[2:]))'
    ' + "\\n")\' "$RUNS" {event_name} {branch} {tag} {pr}'
)
PIPELINE = """
import conducto_nb as co

def ci(branch: str) -> co.Serial:
    with co.Serial() as root:
        co.Exec(f"echo built {branch}", name="build")
    return root
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return event_home(tmp_path, monkeypatch)


def runs(tmp_path: Path) -> list[str]:
    log = tmp_path / "runs.log"
    return log.read_text().splitlines() if log.exists() else []


def cfg(*sections: str) -> str:
    return "".join(f"[{s}]\ncommand = {RECORD.replace('{event_name}', s)}\n" for s in sections)


@pytest.fixture
def served(repo: Path, home: Path) -> Iterator[Served]:
    commit(repo, {".conducto.cfg": cfg("push", "create-tag", "delete-branch", "pr", "pr_close")})
    server = Served(repo, max_body=64 * 1024)
    yield server
    server.stop()


def done(server: Served, delivery: str) -> bool:
    return server.delivery(delivery).state not in ("accepted", "running")


def test_a_signed_push_is_accepted_at_once_and_runs_its_pipeline(repo: Path, home: Path) -> None:
    command = "conducto-nb run pipeline.py:ci --branch={branch}"
    sha = commit(repo, {".conducto.cfg": f"[push]\ncommand = {command}\n", "pipeline.py": PIPELINE})
    server = Served(repo)
    try:
        status, answer = server.post("push", push("refs/heads/main", sha), delivery="d-1")
        assert (status, answer["status"]) == (202, "accepted")
        wait_for(lambda: done(server, "d-1"), 120, "the delivery's command ended")
        delivery = server.delivery("d-1")
        assert (delivery.state, delivery.event, delivery.values["sha"]) == ("done", "push", sha)
        (pipeline_id,) = delivery.pipelines
        run = load(pipeline_id)
        assert run["/build"].stdout == "built main\n"
    finally:
        server.stop()
    listed = subprocess.run(
        [sys.executable, "-m", "conducto_nb.cli", "webhook", "ls"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "COLUMNS": "200"},
    ).stdout
    assert "d-1" in listed and "push → push" in listed and pipeline_id in listed
    ls = subprocess.run(
        [sys.executable, "-m", "conducto_nb.cli", "ls"], capture_output=True, text=True, check=True
    )
    assert pipeline_id in ls.stdout


def test_unsigned_and_forged_deliveries_are_refused_before_anything_is_read(
    served: Served, repo: Path, tmp_path: Path
) -> None:
    sha = git(repo, "rev-parse", "HEAD")
    payload = push("refs/heads/main", sha)
    assert served.post("push", payload, secret=None)[0] == 401
    assert served.post("push", payload, secret=b"not the secret")[0] == 401
    forged = served.post(
        "push", None, body=b"not even JSON", headers={"X-Hub-Signature-256": "sha256=" + "0" * 64}
    )
    assert forged == (401, {"status": "error", "message": "a missing or wrong X-Hub-Signature-256"})
    # signed, then changed on the way: the signature is of other bytes
    other = push("refs/heads/evil", sha)
    header = sign(SECRET, json.dumps(payload).encode())
    changed = served.post("push", other, secret=None, headers={"X-Hub-Signature-256": header})
    assert changed[0] == 401
    assert served.deliveries() == {} and runs(tmp_path) == []


def test_ping_is_answered_and_recorded_nowhere(served: Served) -> None:
    assert served.post("ping", ping()) == (200, {"status": "ok", "message": "pong"})
    assert served.deliveries() == {}


def test_a_replayed_delivery_starts_nothing_new(served: Served, repo: Path, tmp_path: Path) -> None:
    sha = git(repo, "rev-parse", "HEAD")
    assert served.post("push", push("refs/heads/main", sha), delivery="again")[0] == 202
    wait_for(lambda: done(served, "again"), 60, "the first delivery ran")
    replay = served.post("push", push("refs/heads/main", sha), delivery="again")
    assert replay == (200, {"status": "duplicate", "message": "this delivery was received before"})
    assert runs(tmp_path) == ["push main"]


def test_twenty_concurrent_redeliveries_of_one_id_start_exactly_one_run(
    served: Served, repo: Path, tmp_path: Path
) -> None:
    sha = git(repo, "rev-parse", "HEAD")
    payload, statuses = push("refs/heads/main", sha), []
    barrier = threading.Barrier(20)

    def send() -> None:
        barrier.wait()
        statuses.append(served.post("push", payload, delivery="same-id")[0])

    threads = [threading.Thread(target=send) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] * 19 + [202]
    wait_for(lambda: done(served, "same-id"), 60, "the one delivery ran")
    served.call(served.receiver.dispatcher.idle())
    assert runs(tmp_path) == ["push main"]


def test_oversized_malformed_and_incomplete_bodies(served: Served, repo: Path) -> None:
    big = b'{"ref": "' + b"x" * (64 * 1024) + b'"}'
    assert served.post("push", None, body=big)[0] == 413
    status, answer = served.post("push", None, body=b"{not json")
    assert status == 400 and answer["message"].startswith("push: the body is not JSON")
    no_after = push("refs/heads/main", "x")
    del no_after["after"]
    assert served.post("push", no_after) == (
        400,
        {"status": "error", "message": "push: missing field `after`"},
    )
    bad_ref = push("refs/heads/-x", git(repo, "rev-parse", "HEAD"))
    status, answer = served.post("push", bad_ref)
    assert status == 400 and "--branch '-x' is not a valid git ref name" in answer["message"]
    no_id = served.post("push", push("refs/heads/main", "x"), headers={"X-GitHub-Delivery": ""})
    assert no_id[0] == 400 and "X-GitHub-Delivery" in no_id[1]["message"]
    assert served.deliveries() == {}


def test_a_tag_push_starts_one_run_and_its_create_delivery_none(
    served: Served, repo: Path, tmp_path: Path
) -> None:
    sha = git(repo, "rev-parse", "HEAD")
    git(repo, "tag", "v1.0")
    tag_push = served.post("push", push("refs/tags/v1.0", sha, created=True), delivery="t-push")
    tag_create = served.post("create", create("v1.0", "tag"), delivery="t-create")
    assert tag_push[0] == 202 and tag_push[1]["message"] == "create-tag runs"
    assert tag_create[0] == 202 and tag_create[1]["status"] == "no action"
    wait_for(lambda: done(served, "t-push"), 60, "the tag's run ended")
    served.call(served.receiver.dispatcher.idle())
    assert runs(tmp_path) == ["create-tag v1.0"]
    assert served.delivery("t-create").state == "no action"


def test_pull_requests_and_deleted_branches(served: Served, repo: Path, tmp_path: Path) -> None:
    git(repo, "checkout", "-q", "-b", "feat")
    sha = commit(repo, {"f.txt": "feature"})
    for action, number in [("opened", 7), ("synchronize", 7), ("closed", 7), ("labeled", 7)]:
        pr = pull_request(action, number, "feat", sha)
        assert served.post("pull_request", pr, delivery=f"pr-{action}")[0] == 202
        served.call(served.receiver.dispatcher.idle())
    assert served.delivery("pr-labeled").state == "no action"
    gone = push("refs/heads/feat", "0" * 40, deleted=True)
    assert served.post("push", gone, delivery="gone")[0] == 202
    assert served.post("delete", delete("feat", "branch"))[1]["status"] == "no action"
    served.call(served.receiver.dispatcher.idle())
    assert runs(tmp_path) == ["pr feat 7", "pr feat 7", "pr_close feat 7", "delete-branch feat"]


def test_a_push_no_section_matches_is_no_action(served: Served, repo: Path) -> None:
    git(repo, "tag", "v2")
    status, answer = served.post("push", push("refs/tags/v2", "0" * 40, deleted=True))
    assert (status, answer["status"]) == (202, "no action")
    assert "no section of .conducto.cfg matches this delete-tag event" in answer["message"]


def test_behind_a_reverse_proxy_the_prefix_is_the_path(repo: Path, home: Path) -> None:
    commit(repo, {".conducto.cfg": cfg("push")})
    server = Served(repo, path_prefix="/hooks/ci/")
    try:
        assert server.post("ping", ping(), path="/hooks/ci/")[0] == 200
        assert server.post("ping", ping(), path="/hooks/ci")[0] == 200
        assert server.post("ping", ping(), path="/")[0] == 404
    finally:
        server.stop()


def test_the_secret_is_in_no_log_and_not_in_the_store(
    served: Served, repo: Path, home: Path
) -> None:
    sha = git(repo, "rev-parse", "HEAD")
    for _ in range(3):
        served.post("push", push("refs/heads/main", sha), delivery=str(uuid.uuid4()))
    served.post("push", push("refs/heads/main", sha), secret=b"wrong")
    served.call(served.receiver.dispatcher.idle())
    files = [p for p in home.rglob("*") if p.is_file()]
    assert any(p.suffix == ".log" for p in files) and any(p.name == "store.db" for p in files)
    for path in files:
        assert SECRET not in path.read_bytes(), path


@pytest.mark.parametrize(
    ("event", "payload", "why"),
    [
        (
            "pull_request",
            {"action": "opened", "number": 1, "repository": {"name": "x"}},
            "missing field `pull_request`",
        ),
        ("pull_request", {"action": "opened", "number": "1"}, "field `number` is not a number"),
        ("create", {"ref_type": "branch"}, "missing field `ref`"),
        ("push", ["a list"], "the payload is not a JSON object"),
    ],
)
def test_a_payload_without_what_its_event_needs_names_the_field(
    event: str, payload: object, why: str
) -> None:
    with pytest.raises(PayloadError, match=why):
        map_payload(event, payload)


def test_a_fork_is_a_head_in_another_repository_or_in_none() -> None:
    own = map_payload("pull_request", pull_request("opened", 3, "b", "a" * 40))
    fork = map_payload(
        "pull_request", pull_request("opened", 3, "b", "a" * 40, head_owner="mallory")
    )
    deleted = pull_request("reopened", 3, "b", "a" * 40)
    deleted["pull_request"]["head"]["repo"] = None
    assert (own.fork, fork.fork, map_payload("pull_request", deleted).fork) == (False, True, True)
    assert own.values["author"] == "ada" and own.values["base_branch"] == "main"


def test_a_cfg_broken_on_the_default_branch_is_a_500_naming_file_and_line(
    served: Served, repo: Path
) -> None:
    sha = commit(repo, {".conducto.cfg": "[push]\ncommand = make\nfilter = {branch} = main\n"})
    status, answer = served.post("push", push("refs/heads/main", sha), delivery="broken")
    assert status == 500
    assert answer["message"].startswith(".conducto.cfg: main:.conducto.cfg:3: bad filter")
    assert served.deliveries() == {}
