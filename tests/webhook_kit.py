"""The webhook receiver in a test: a real aiohttp server on 127.0.0.1 (an ephemeral port) on a
loop of its own, deliveries sent as real HTTP requests, and payloads shaped like the ones
GitHub documents for push, pull_request, create, delete and ping (only the fields read here
and a few beside them, as GitHub sends more)."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

from conducto_nb.events.webhook.server import Receiver
from conducto_nb.events.webhook.signature import sign
from conducto_nb.store.deliveries import Delivery

SECRET = b"It's a Secret to Everybody"


class Served:
    """A Receiver listening on 127.0.0.1, its loop in a thread of its own."""

    def __init__(self, root: Path, secret: bytes = SECRET, **kwargs: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.receiver = Receiver(root, secret, **kwargs)
        self.call(self.receiver.start())
        self.port = self.receiver.port

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=600)

    def stop(self) -> None:
        self.call(self.receiver.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()
        self.receiver.store.close()

    def deliveries(self) -> dict[str, Delivery]:
        return {d.id: d for d in self.receiver.store.deliveries(1000)}

    def delivery(self, delivery_id: str) -> Delivery:
        return self.deliveries()[delivery_id]

    def post(
        self,
        event: str,
        payload: Any,
        *,
        delivery: str | None = None,
        secret: bytes | None = SECRET,
        body: bytes | None = None,
        path: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """Send one delivery as GitHub does; the status and the JSON answer."""
        return send(
            self.port,
            event,
            payload,
            delivery=delivery,
            secret=secret,
            body=body,
            path=path or self.receiver.path,
            headers=headers,
        )


def send(
    port: int,
    event: str,
    payload: Any,
    *,
    delivery: str | None = None,
    secret: bytes | None = SECRET,
    body: bytes | None = None,
    path: str = "/",
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    raw = body if body is not None else json.dumps(payload).encode()
    sent = {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/044aadd",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-GitHub-Hook-ID": "292430182",
    }
    if secret is not None:
        sent["X-Hub-Signature-256"] = sign(secret, raw)
    sent.update(headers or {})
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("POST", path, body=raw, headers=sent)
        answer = conn.getresponse()
        text = answer.read()
    finally:
        conn.close()
    try:
        return answer.status, json.loads(text)
    except ValueError:
        return answer.status, {"text": text.decode(errors="replace")}


def _repository(name: str = "demo", owner: str = "octo-org") -> dict[str, Any]:
    return {
        "id": 1296269,
        "name": name,
        "full_name": f"{owner}/{name}",
        "private": False,
        "owner": {"login": owner, "type": "Organization"},
        "default_branch": "main",
        "clone_url": f"https://github.com/{owner}/{name}.git",
    }


def _user(login: str) -> dict[str, Any]:
    return {"login": login, "id": 583231, "type": "User"}


def push(
    ref: str,
    after: str,
    *,
    before: str = "0" * 40,
    created: bool = False,
    deleted: bool = False,
    author: str = "Ada Lovelace",
    pusher: str = "ada",
) -> dict[str, Any]:
    """A push payload: a branch (`refs/heads/B`) or a tag (`refs/tags/T`)."""
    head = (
        None
        if deleted
        else {
            "id": after,
            "message": "change",
            "timestamp": "2026-12-05T18:00:00Z",
            "author": {"name": author, "email": "ada@example.com", "username": pusher},
            "committer": {"name": author, "email": "ada@example.com", "username": pusher},
        }
    )
    return {
        "ref": ref,
        "before": before,
        "after": "0" * 40 if deleted else after,
        "created": created,
        "deleted": deleted,
        "forced": False,
        "base_ref": None,
        "compare": f"https://github.com/octo-org/demo/compare/{before[:12]}...{after[:12]}",
        "commits": [] if head is None else [head],
        "head_commit": head,
        "pusher": {"name": pusher, "email": "ada@example.com"},
        "repository": _repository(),
        "sender": _user(pusher),
    }


def pull_request(
    action: str,
    number: int,
    head_ref: str,
    head_sha: str,
    *,
    base_ref: str = "main",
    login: str = "ada",
    head_owner: str = "octo-org",
) -> dict[str, Any]:
    """A pull_request payload; `head_owner` other than the base's makes it a fork's."""
    base_repo, head_repo = _repository(), _repository(owner=head_owner)
    return {
        "action": action,
        "number": number,
        "pull_request": {
            "number": number,
            "state": "closed" if action == "closed" else "open",
            "title": "A change",
            "user": _user(login),
            "merged": False,
            "head": {
                "label": f"{head_owner}:{head_ref}",
                "ref": head_ref,
                "sha": head_sha,
                "user": _user(head_owner),
                "repo": head_repo,
            },
            "base": {
                "label": f"octo-org:{base_ref}",
                "ref": base_ref,
                "sha": "1" * 40,
                "user": _user("octo-org"),
                "repo": base_repo,
            },
        },
        "repository": base_repo,
        "sender": _user(login),
    }


def create(ref: str, ref_type: str) -> dict[str, Any]:
    return {
        "ref": ref,
        "ref_type": ref_type,
        "master_branch": "main",
        "description": None,
        "pusher_type": "user",
        "repository": _repository(),
        "sender": _user("ada"),
    }


def delete(ref: str, ref_type: str) -> dict[str, Any]:
    return {
        "ref": ref,
        "ref_type": ref_type,
        "pusher_type": "user",
        "repository": _repository(),
        "sender": _user("ada"),
    }


def ping() -> dict[str, Any]:
    return {
        "zen": "Keep it logically awesome.",
        "hook_id": 292430182,
        "hook": {"type": "Repository", "events": ["push", "pull_request"], "active": True},
        "repository": _repository(),
        "sender": _user("ada"),
    }


def event_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A store of the test's own; cfg commands find this Python (and its conducto-nb) first on
    PATH and log their runs to $RUNS."""
    monkeypatch.setenv("CONDUCTO_NB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("RUNS", str(tmp_path / "runs.log"))
    return tmp_path / "home"
