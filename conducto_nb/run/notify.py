"""The notifying callbacks, self-hosted: `email` through the user's SMTP server,
`slack_status` through a Slack incoming webhook, `github_status` / `github_pipeline_status`
through GitHub's commit-status API (or any server shaped like it: GitHub Enterprise, a test's).

Settings come from the environment, else from `$CONDUCTO_NB_HOME/config` (INI):

    [smtp]      host, port, user, password, from, starttls (true/false)
    [slack]     webhook
    [github]    token, api (default https://api.github.com)

Environment names: CONDUCTO_NB_SMTP_HOST (and _PORT, _USER, _PASSWORD, _FROM, _STARTTLS),
CONDUCTO_NB_SLACK_WEBHOOK, CONDUCTO_NB_GITHUB_TOKEN (or GITHUB_TOKEN), CONDUCTO_NB_GITHUB_API.
Each sender runs in a worker thread and returns what it did, or raises saying what is missing.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import smtplib
import urllib.request
from collections.abc import Callable
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..model.states import FAILED, NodeStatus, State

if TYPE_CHECKING:
    from ..model.callbacks import Callback
    from .runner import Execution

__all__ = ["SENDERS", "post_json", "setting", "slack_target", "summary"]

TIMEOUT = 20  # seconds a server may take to answer


def setting(section: str, key: str, default: str | None = None) -> str | None:
    """CONDUCTO_NB_<SECTION>_<KEY> from the environment, else [section] key of the config."""
    found = os.environ.get(f"CONDUCTO_NB_{section}_{key}".upper())
    if found:
        return found
    from ..store.db import home

    parser = configparser.ConfigParser()
    try:
        parser.read(home() / "config")
    except configparser.Error as e:
        raise ConfigError(f"{home() / 'config'}: {e}") from None
    return parser.get(section, key, fallback=default)


def summary(ex: Execution, path: str, status: NodeStatus, event: str) -> dict[str, Any]:
    """What a notification says about the node: read on the loop, sent from a thread."""
    attempts = ex.record.attempts(path)
    last = attempts[-1] if attempts else None
    stderr = ex.record.output(path, "stderr") if last is not None else ""
    counts: dict[str, int] = {}
    for p, s in ex.scheduler.statuses().items():
        if not ex.scheduler.root[p].children:
            counts[s.state.value] = counts.get(s.state.value, 0) + 1
    return {
        "pipeline": ex.id,
        "path": path,
        "event": event,
        "state": status.state.value,
        "exit_code": last.exit_code if last else None,
        "message": last.message if last else None,
        "tail": "\n".join(stderr.strip().splitlines()[-10:]),
        "root_state": ex.scheduler.status("/").state.value,
        "counts": counts,
    }


def _headline(s: dict[str, Any]) -> str:
    code = f" (exit {s['exit_code']})" if s["exit_code"] not in (None, 0) else ""
    return f"pipeline {s['pipeline']} {s['path']}: {s['state']}{code}"


def _email(cb: Callback, s: dict[str, Any]) -> str:
    host = setting("smtp", "host")
    if not host:
        raise ConfigError("email: no SMTP server: set CONDUCTO_NB_SMTP_HOST or [smtp] host")
    to, cc = _addresses(cb.kwargs.get("to")), _addresses(cb.kwargs.get("cc"))
    if not to and not cc:
        to = _addresses(setting("smtp", "to"))
    if not to and not cc:
        raise ConfigError("email: no recipient: give to= or set [smtp] to")
    msg = EmailMessage()
    msg["Subject"] = f"[conducto_nb] {_headline(s)}"
    msg["From"] = setting("smtp", "from", "conducto_nb@localhost") or "conducto_nb@localhost"
    if to:
        msg["To"] = ", ".join(to)
    if cc:
        msg["Cc"] = ", ".join(cc)
    body = [_headline(s), f"pipeline state: {s['root_state']}"]
    if s["message"]:
        body.append(s["message"])
    if s["tail"]:
        body += ["", "last lines of stderr:", s["tail"]]
    msg.set_content("\n".join(body) + "\n")
    port = int(setting("smtp", "port", "25") or 25)
    with smtplib.SMTP(host, port, timeout=TIMEOUT) as smtp:
        if (setting("smtp", "starttls", "false") or "").lower() in ("1", "true", "yes"):
            smtp.starttls()
        user = setting("smtp", "user")
        if user:
            smtp.login(user, setting("smtp", "password", "") or "")
        smtp.send_message(msg)
    return f"emailed {', '.join(to + cc)}"


def _addresses(value: Any) -> list[str]:
    if not value:
        return []
    items = [value] if isinstance(value, str) else list(value)
    return [a.strip() for item in items for a in str(item).split(",") if a.strip()]


def post_json(url: str, payload: dict[str, Any], headers: dict[str, str] | None = None) -> int:
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"{url!r} is not an http(s) URL")
    data = json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, method="POST")
    request.add_header("Content-Type", "application/json")
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
        status: int = response.status
        return status


def slack_target(recipient: str, who: str) -> tuple[str, str | None]:
    """The incoming webhook to post to, and the channel to name (None: the webhook's own):
    `recipient` is a webhook URL, or a channel when one is configured."""
    if recipient.startswith(("http://", "https://")):
        return recipient, None
    url = setting("slack", "webhook")
    if not url:
        raise ConfigError(
            f"{who}: no webhook: give its URL as the recipient, or set "
            "CONDUCTO_NB_SLACK_WEBHOOK or [slack] webhook"
        )
    return url, recipient or None


def _slack(cb: Callback, s: dict[str, Any]) -> str:
    url, channel = slack_target(str(cb.kwargs.get("recipient") or ""), "slack_status")
    text = cb.kwargs.get("message") or _headline(s)
    if cb.kwargs.get("node_summary") or not cb.kwargs.get("message"):
        counts = ", ".join(f"{n} {state}" for state, n in sorted(s["counts"].items()))
        text += f"\npipeline {s['root_state']}: {counts}"
    payload: dict[str, Any] = {"text": text}
    if channel:
        payload["channel"] = channel
    post_json(url, payload)
    return "posted to Slack"


_REPO = re.compile(r"^(?:https?://[^/]+/|git@[^:]+:)?([\w.-]+)/([\w.-]+?)(?:\.git)?/?$")


def _github(cb: Callback, s: dict[str, Any]) -> str:
    found = _REPO.match(str(cb.kwargs.get("url") or ""))
    if not found:
        raise ConfigError(f"github_status: {cb.kwargs.get('url')!r} names no OWNER/REPO")
    token = setting("github", "token") or os.environ.get("GITHUB_TOKEN")
    if not token:
        raise ConfigError("github_status: no token: set CONDUCTO_NB_GITHUB_TOKEN or GITHUB_TOKEN")
    api = (setting("github", "api", "https://api.github.com") or "").rstrip("/")
    whole = cb.name == "github_pipeline_status"
    state = State(s["root_state"] if whole else s["state"])
    if state is State.DONE:
        gh = "success"
    elif state in FAILED or state is State.KILLED:
        gh = "failure"
    else:
        gh = "pending"
    if whole:
        counts = ", ".join(f"{n} {k}" for k, n in sorted(s["counts"].items()))
        context, description = "conducto_nb", f"{state.value}: {counts}"
    else:
        context, description = f"conducto_nb{s['path']}", _headline(s)
    owner, repo = found.groups()
    url = f"{api}/repos/{owner}/{repo}/statuses/{cb.kwargs['sha']}"
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json"}
    payload = {"state": gh, "context": context, "description": description[:140]}
    post_json(url, payload, headers)
    return f"GitHub status {gh} for {str(cb.kwargs['sha'])[:12]}"


SENDERS: dict[str, Callable[[Callback, dict[str, Any]], str]] = {
    "email": _email,
    "slack_status": _slack,
    "github_status": _github,
    "github_pipeline_status": _github,
}
