"""What one attempt of an Exec is given: its Job (command, env, resources, image), made from
the node's effective parameters when the scheduler starts it. The env is how a job learns
about its world, as Conducto's did: the node's `env` with its co.secret values resolved,
every secret stored with co.api.Secrets, where it runs (CONDUCTO_PIPELINE_ID, CONDUCTO_NB_NODE,
CONDUCTO_NB_ATTEMPT, its cpu and mem) and how to reach co.data. Every secret value it reads
is added to `secret_values`, which the run's output masks.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..backends.base import Job
from ..model import secrets
from ..model.execs import GENERATE_ENV, Exec
from ..model.secrets import SCOPES, Secret, stored_secrets
from .scheduler import StartExec

__all__ = ["JobMaker"]

#: Seconds a check of the secrets' files holds: another process's change shows within this
#: (this process's own writes at once); the files are not looked at for every node.
SECRETS_RECHECK = 0.1


class JobMaker:
    """The Jobs of one pipeline's attempts."""

    def __init__(self, pipeline_id: str, workdir: Path, secrets_home: Path | None) -> None:
        self.id, self.workdir, self.secrets_home = pipeline_id, workdir, secrets_home
        self.secret_values: set[str] = set()
        #: How its jobs reach co.data: CONDUCTO_DATA_URL, CONDUCTO_DATA_TOKEN (start_data).
        self.data_env: dict[str, str] = {}
        self._secrets_read: tuple[tuple[int, ...], dict[str, str]] = ((), {})
        self._secrets_seen = (-1, 0.0)  # (secrets.writes, monotonic time) of the last check
        self._secret_files = (
            [str(secrets_home / n) for n in SCOPES.values()] if secrets_home else []
        )
        self._noted_images = False

    def job(self, ins: StartExec, resolve_env: bool = True) -> Job:
        """The Job of one attempt; without `resolve_env` (for checks before anything runs) no
        secret is read and the env holds only what the tree says."""
        node: Exec = ins.node
        p = node.param_values()
        env = self._stored() if resolve_env else {}  # as Conducto gave every node
        for key, value in p["env"].items() if resolve_env else ():
            if isinstance(value, Secret):
                value = value.resolve(self.secrets_home)
                self.secret_values.add(value)
            env[key] = value
        env.setdefault("PYTHONUNBUFFERED", "1")  # Python commands stream their output live
        if resolve_env:  # where the job is, as Conducto told its nodes (CONDUCTO_PIPELINE_ID)
            env.update(
                CONDUCTO_PIPELINE_ID=self.id,
                CONDUCTO_NB_NODE=ins.path,
                CONDUCTO_NB_ATTEMPT=str(ins.attempt),
                CONDUCTO_NB_CPU=f"{p['cpu']:g}",
                CONDUCTO_NB_MEM=f"{p['mem']:g}",
            )
            env.update(self.data_env)
        if node.generates:
            env[GENERATE_ENV] = "1"
        return Job(
            self.id,
            ins.path,
            ins.attempt,
            node.command_obj,
            env,
            self.workdir,
            cpu=p["cpu"],
            mem=p["mem"],
            gpu=p["gpu"],
            image=p["image"],
            requires_docker=p["requires_docker"],
            docker_run_args=p["docker_run_args"],
            max_time=p["max_time"],
            generates=node.generates,
            reuse_group=ins.reuse_group,
        )

    def _stored(self) -> dict[str, str]:
        """co.api.Secrets' values (masked in every log), read again when a file changed (looked
        at after this process wrote one, or SECRETS_RECHECK seconds after the last look)."""
        if self.secrets_home is None:
            return {}
        writes, checked = self._secrets_seen
        now = time.monotonic()
        if writes == secrets.writes and now - checked < SECRETS_RECHECK:
            return dict(self._secrets_read[1])
        self._secrets_seen = (secrets.writes, now)
        stamp = tuple(map(_changed_at, self._secret_files))
        if self._secrets_read[0] != stamp:
            self._secrets_read = (stamp, stored_secrets(self.secrets_home))
            self.secret_values.update(self._secrets_read[1].values())
        return dict(self._secrets_read[1])

    def note_image(
        self,
        job: Job,
        backend: str,
        honours: Callable[[Any], bool],
        out: Callable[[str, str], None],
    ) -> None:
        """Say once per run, in the job's stderr, that the backend runs without its image."""
        if job.image and not self._noted_images and not honours(job.image):
            self._noted_images = True
            out(
                "stderr",
                f"[conducto_nb] the {backend} backend runs commands on this "
                f"machine: image {job.image!r} (and any other image) is not used\n",
            )


def _changed_at(file: str) -> int:
    """When `file` last changed (0: there is none); one system call."""
    try:
        return os.stat(file).st_mtime_ns
    except OSError:
        return 0
