"""The webhook receiver's trust boundary on the Docker backend: a fork's pull request never
gets the daemon's socket; a trusted author's does, as `requires_docker` says."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from backend_kit import BUSYBOX
from git_kit import commit, git
from webhook_kit import Served, pull_request

from conducto_nb.run.runs import load

PIPELINES = f"""
import conducto_nb as co

def sock() -> co.Serial:
    with co.Serial(image="{BUSYBOX}", requires_docker=True) as root:
        co.Exec("test -S /var/run/docker.sock && echo socket", name="sock")
    return root
"""


def test_a_fork_gets_no_docker_socket_and_a_trusted_author_does(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONDUCTO_NB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    cfg = "[pr]\ncommand = conducto-nb run pipelines.py:sock --backend docker\n"
    commit(repo, {".conducto.cfg": cfg, "pipelines.py": PIPELINES})
    git(repo, "checkout", "-q", "-b", "change")
    sha = commit(repo, {"f.txt": "a change"})
    server = Served(repo, trusted_authors=["ada"])
    try:
        stranger = pull_request("opened", 1, "change", sha, login="mallory", head_owner="mallory")
        friend = pull_request("opened", 2, "change", sha, login="ada", head_owner="ada")
        assert server.post("pull_request", stranger, delivery="stranger")[0] == 202
        assert server.post("pull_request", friend, delivery="friend")[0] == 202
        server.call(server.receiver.dispatcher.idle())
        refused, allowed = server.delivery("stranger"), server.delivery("friend")
    finally:
        server.stop()
    log = (tmp_path / "home" / "webhook" / "stranger.log").read_text()
    assert "`requires_docker` refused: this run is untrusted" in log
    assert (refused.state, refused.pipelines) == ("failed", ())
    assert allowed.state == "done", (tmp_path / "home" / "webhook" / "friend.log").read_text()
    (pipeline_id,) = allowed.pipelines
    assert load(pipeline_id)["/sock"].stdout == "socket\n"
