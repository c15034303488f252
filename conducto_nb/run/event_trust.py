"""What a pipeline started by a GitHub delivery's command inherits from the receiver
(events/webhook/dispatch.py sets both variables in the command's environment, and a detached
run's process inherits them): the delivery it is linked to in the store, and whether it runs
untrusted. An untrusted run (a pull request from a fork whose author is not allowed) gets no
stored secrets and no node of it may have the Docker daemon's socket: `start` refuses the
whole tree before anything runs.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from ..errors import PipelineError
from ..model.execs import Exec
from ..model.nodes import Node
from .runs import shared_store

__all__ = ["DELIVERY_ENV", "UNTRUSTED_ENV", "check_trust", "link_delivery", "secrets_home"]

#: The id of the GitHub delivery (X-GitHub-Delivery) whose command starts this pipeline.
DELIVERY_ENV = "CONDUCTO_NB_DELIVERY"
#: Set, to why, for a command the receiver does not trust (a fork's pull request).
UNTRUSTED_ENV = "CONDUCTO_NB_UNTRUSTED"


def check_trust(tree: Node) -> None:
    """Refuse `requires_docker` anywhere in an untrusted run: the socket is the whole machine."""
    why = os.environ.get(UNTRUSTED_ENV)
    if not why:
        return
    for node in tree.walk():
        if isinstance(node, Exec) and node.get_param("requires_docker"):
            raise PipelineError(
                f"`requires_docker` refused: this run is untrusted ({why}), so no node gets"
                " the Docker daemon's socket",
                path=node.path,
            )


def secrets_home(home: Path) -> Path | None:
    """Where stored secrets are read from: nowhere for an untrusted run."""
    return None if os.environ.get(UNTRUSTED_ENV) else home


def link_delivery(pipeline_id: str) -> None:
    """Record that the delivery in $CONDUCTO_NB_DELIVERY started this pipeline."""
    delivery = os.environ.get(DELIVERY_ENV)
    if not delivery:
        return
    try:
        shared_store().link_delivery(delivery, pipeline_id)
    except PipelineError as e:  # the run has started: a missing link must not stop it
        warnings.warn(f"conducto_nb: delivery {delivery} not linked: {e}", stacklevel=3)
