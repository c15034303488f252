"""A GitHub delivery's payload as a `.conducto.cfg` event and its values.

    push  refs/heads/B         -> push           (deleted: delete-branch)
    push  refs/tags/T          -> create-tag     (deleted: delete-tag)
    pull_request opened, reopened, synchronize -> pr;  closed -> pr_close
    create (a branch)          -> create-branch
    create (a tag), delete     -> nothing: the push delivery GitHub sends beside each starts
                                  the runs, so a tag push starts one run, not two
    ping                       -> nothing (answered 200)

Only fields GitHub documents are read; a missing one is a `PayloadError` (400) naming it. A
pull request whose head is in another repository (a fork, or a fork since deleted) is marked
`fork`: it runs untrusted unless its author is allowed (dispatch.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..cfg import VARIABLES

__all__ = ["Mapped", "PayloadError", "map_payload"]

PR_ACTIONS = {"opened": "pr", "reopened": "pr", "synchronize": "pr", "closed": "pr_close"}


_KINDS = {str: "a string", int: "a number", bool: "true or false"}


class PayloadError(ValueError):
    """A payload without a field its event needs (answered 400 with this message)."""


@dataclass(frozen=True)
class Mapped:
    """What a delivery means here: a cfg event with its values, or why there is none."""

    event: str | None
    values: Mapping[str, str] = field(default_factory=dict)
    fork: bool = False
    why_none: str = ""


def _get(payload: Any, dotted: str, kind: type = str) -> Any:
    """`payload["a"]["b"]` for "a.b", of `kind`, else PayloadError naming the field."""
    value = payload
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise PayloadError(f"missing field `{dotted}`")
        value = value[part]
    if (kind is int and isinstance(value, bool)) or not isinstance(value, kind):
        raise PayloadError(f"field `{dotted}` is not {_KINDS.get(kind, 'an object')}")
    return value


def _values(payload: Any, **given: str) -> dict[str, str]:
    values = dict.fromkeys(VARIABLES, "")
    values["repo"] = _get(payload, "repository.name")
    values.update(given)
    return values


def map_payload(github_event: str, payload: Any) -> Mapped:
    """The cfg event a delivery of `github_event` with this (parsed JSON) payload starts."""
    if not isinstance(payload, Mapping):
        raise PayloadError("the payload is not a JSON object")
    if github_event == "push":
        return _push(payload)
    if github_event == "pull_request":
        return _pull_request(payload)
    if github_event == "create":
        ref, kind = _get(payload, "ref"), _get(payload, "ref_type")
        if kind != "branch":
            return Mapped(None, why_none=f"a created {kind} starts its runs from its push delivery")
        return Mapped("create-branch", _values(payload, branch=ref, author=_sender(payload)))
    if github_event == "delete":
        _get(payload, "ref")
        return Mapped(None, why_none="a deletion starts its runs from its push delivery")
    return Mapped(None, why_none=f"this receiver does not act on {github_event} events")


def _sender(payload: Any) -> str:
    sender = payload.get("sender")
    return str(sender.get("login") or "") if isinstance(sender, Mapping) else ""


def _push(payload: Any) -> Mapped:
    ref, deleted = _get(payload, "ref"), _get(payload, "deleted", bool)
    after = "" if deleted else _get(payload, "after")
    head = payload.get("head_commit")
    author = ""
    if isinstance(head, Mapping) and isinstance(head.get("author"), Mapping):
        author = str(head["author"].get("name") or "")
    author = author or _sender(payload)
    if ref.startswith("refs/tags/"):
        tag = ref.removeprefix("refs/tags/")
        event = "delete-tag" if deleted else "create-tag"
        return Mapped(event, _values(payload, tag=tag, sha=after, author=author))
    if not ref.startswith("refs/heads/"):
        return Mapped(None, why_none=f"a push to {ref} is neither a branch nor a tag")
    branch = ref.removeprefix("refs/heads/")
    event = "delete-branch" if deleted else "push"
    return Mapped(event, _values(payload, branch=branch, sha=after, author=author))


def _pull_request(payload: Any) -> Mapped:
    action = _get(payload, "action")
    number = _get(payload, "number", int)
    event = PR_ACTIONS.get(action)
    if event is None:
        return Mapped(None, why_none=f"a pull request {action} event starts nothing")
    pr = _get(payload, "pull_request", Mapping)
    base_repo = _get(pr, "base.repo.full_name")
    head_repo = pr.get("head", {}).get("repo") if isinstance(pr.get("head"), Mapping) else None
    fork = not isinstance(head_repo, Mapping) or head_repo.get("full_name") != base_repo
    values = _values(
        payload,
        pr=str(number),
        branch=_get(pr, "head.ref"),
        sha=_get(pr, "head.sha"),
        base_branch=_get(pr, "base.ref"),
        author=_get(pr, "user.login"),
    )
    return Mapped(event, values, fork=fork)
