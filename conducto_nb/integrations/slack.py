"""Conducto's `co.slack`, self-hosted: `co.slack.text("#deploys", "shipped")` posts through
the user's own Slack incoming webhook instead of Conducto's Slack app. The recipient is the
webhook's URL, or a channel name when the webhook is configured ($CONDUCTO_NB_SLACK_WEBHOOK or
`[slack] webhook` in $CONDUCTO_NB_HOME/config), as for `co.callback.slack_status`. Conducto's
`co.integrations.slack.Slack().message(...)` posts the same way."""

from __future__ import annotations

import json as _json
import urllib.error
from typing import Any

from ..errors import ConfigError

__all__ = ["Slack", "block", "text"]


def text(recipient: str, text: str) -> None:
    """Post a plain text message."""
    _send(recipient, {"text": text}, "co.slack.text")


def block(recipient: str, json: str) -> None:
    """Post a Block Kit message: `json` is the blocks' JSON text, as Conducto took it."""
    try:
        blocks = _json.loads(json)
    except ValueError as e:
        raise ConfigError(f"co.slack.block: the blocks are not JSON: {e}") from None
    _send(recipient, {"blocks": blocks}, "co.slack.block")


class Slack:
    """Conducto's `co.integrations.slack.Slack`: one `message()` that takes text, blocks or
    both (the text is then the notifications' fallback)."""

    def message(
        self,
        recipient: str,
        text: str | None = None,
        blocks: list[dict[str, Any]] | None = None,
        thread_info: dict[str, Any] | None = None,
        token: str | None = None,
    ) -> dict[str, Any]:
        """Post a message; with `thread_info` holding a `thread_ts`, as a reply in that thread.
        `token` was Conducto's login and is not needed. Returns what Slack's webhook gives
        back to thread on: nothing (an incoming webhook answers "ok" only)."""
        who = "co.integrations.slack.Slack().message"
        if text is None and blocks is None:
            raise ConfigError(f"{who}: give text, blocks or both")
        payload: dict[str, Any] = {}
        if text is not None:
            payload["text"] = text
        if blocks is not None:
            payload["blocks"] = blocks
        if thread_info and thread_info.get("thread_ts"):
            payload["thread_ts"] = thread_info["thread_ts"]
        _send(recipient, payload, who)
        return {}


def _send(recipient: str, payload: dict[str, Any], who: str) -> None:
    from ..run.notify import post_json, slack_target  # smtplib and all: only when posting

    url, channel = slack_target(recipient, who)
    if channel:
        payload = {**payload, "channel": channel}
    try:
        post_json(url, payload)
    except urllib.error.HTTPError as e:
        raise ConfigError(f"{who}: Slack answered {e.code} {e.reason}") from None
    except OSError as e:
        raise ConfigError(f"{who}: cannot reach {url}: {e}") from None
