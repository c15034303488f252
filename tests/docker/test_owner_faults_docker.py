"""Exactly once on Docker: an owner SIGKILLed mid-run, then adopted by a rerun from another
process. The old container's job must be gone before the new attempt starts, and what the node
shows is the new attempt's alone (tests/test_owner_faults.py: the same on the local backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from backend_kit import BUSYBOX
from owner_kit import STUBBORN_JOB, killed_owner, rerun_while_the_old_attempt_may_live, tokens

from conducto_nb.backends.docker.args import PIPELINE_LABEL


def test_a_rerun_after_the_owners_death_never_overlaps_the_old_attempt(
    docker_client: Any, tmp_path: Path
) -> None:
    log = tmp_path / "log"  # seen by both attempts' containers, as /shared/log
    job = STUBBORN_JOB.format(log="/shared/log")
    params = f"image={BUSYBOX!r}, docker_run_args=['-v', '{tmp_path}:/shared']"
    pipeline_id = killed_owner(
        f"co.Exec({job!r}, name='wait')",
        root_params=params,
        backend="docker",
        ready=lambda: tokens(log),
    )

    def one_container_runs_it() -> None:
        label = {"label": f"{PIPELINE_LABEL}={pipeline_id}"}
        assert len(docker_client.containers.list(filters=label)) == 1

    rerun_while_the_old_attempt_may_live(pipeline_id, log, one_container_runs_it)
