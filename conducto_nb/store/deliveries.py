"""GitHub webhook deliveries (events/webhook/): each one received, what it became and the
pipelines it started, so `conducto-nb webhook ls` and a restarted receiver see them all.

A delivery's id (GitHub's `X-GitHub-Delivery`) is the table's primary key and is inserted in
one statement, so of any number of concurrent redeliveries exactly one is new (`receive`).
What is kept is the event the receiver mapped the payload to and its values (branch, sha, pr,
author...), never the webhook secret or a request header: a delivery accepted but not yet
started is started again from them by the next `serve`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from .db import StoreDB

__all__ = ["DELIVERY_STATES", "Delivery", "DeliveryStore"]

#: accepted: recorded, its commands not started yet; running; done (every command exited 0);
#: failed; no action (no section matched); interrupted (the receiver stopped mid-command).
DELIVERY_STATES = ("accepted", "running", "done", "failed", "no action", "interrupted")


@dataclass(frozen=True)
class Delivery:
    """One recorded delivery and the pipelines its commands started."""

    id: str
    received: float
    repo: str  # the served repository's folder: a receiver starts only its own
    github_event: str
    event: str
    values: Mapping[str, str]
    trusted: bool
    state: str
    detail: str
    pipelines: tuple[str, ...] = field(default=())


class DeliveryStore(StoreDB):
    """The part of `Store` that keeps webhook deliveries."""

    def receive(self, delivery: Delivery) -> bool:
        """Record a delivery; False when its id was recorded before (a redelivery): one
        statement, so of concurrent redeliveries exactly one is new."""
        with self._tx() as c:
            cur = c.execute(
                "INSERT INTO deliveries (id, received, repo, github_event, event, vals, trusted,"
                " state, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
                (
                    delivery.id,
                    delivery.received,
                    delivery.repo,
                    delivery.github_event,
                    delivery.event,
                    json.dumps(dict(delivery.values), sort_keys=True),
                    int(delivery.trusted),
                    delivery.state,
                    delivery.detail,
                ),
            )
            return cur.rowcount == 1

    def set_delivery_state(self, delivery_id: str, state: str, detail: str = "") -> None:
        with self._tx() as c:
            c.execute(
                "UPDATE deliveries SET state = ?, detail = ? WHERE id = ?",
                (state, detail, delivery_id),
            )

    def link_delivery(self, delivery_id: str, pipeline_id: str) -> None:
        """Say that `pipeline_id` was started by a command of this delivery."""
        with self._tx() as c:
            c.execute(
                "INSERT INTO delivery_pipelines (delivery_id, pipeline_id, linked)"
                " VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                (delivery_id, pipeline_id, time.time()),
            )

    def deliveries(
        self, limit: int = 50, *, state: str | None = None, repo: str | None = None
    ) -> list[Delivery]:
        """Newest first; those in one `state` of one `repo` oldest first (the order to start
        them in)."""
        where, order = ("WHERE state = ? AND repo = ?", "ASC") if state else ("", "DESC")
        with self._read() as c:
            rows = c.execute(
                "SELECT id, received, repo, github_event, event, vals, trusted, state, detail"
                f" FROM deliveries {where} ORDER BY received {order} LIMIT ?",
                (state, repo, limit) if state else (limit,),
            ).fetchall()
            links: dict[str, list[str]] = {}
            for delivery_id, pipeline_id in c.execute(
                "SELECT delivery_id, pipeline_id FROM delivery_pipelines ORDER BY linked"
            ):
                links.setdefault(delivery_id, []).append(pipeline_id)
        return [
            Delivery(i, r, o, g, e, json.loads(v), bool(t), s, d, tuple(links.get(i, ())))
            for i, r, o, g, e, v, t, s, d in rows
        ]
