"""How a job becomes a warm container: its resource signature (the `Spec` that picks its
pool) and how to start a container for it (`Launch`): labels that tie it to its pipeline,
pool, owner and backend; cpu and mem as limits; the allowed docker_run_args; this package
lent read-only for Lazy generators; the daemon's socket and CLI for `requires_docker` only;
GPUs as `docker run --gpus N` asks for them.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ...errors import BackendError
from ...images.docker_sdk import import_docker
from ..base import Job
from .args import (
    BACKEND_LABEL,
    OWNER_LABEL,
    PIPELINE_LABEL,
    POOL_LABEL,
    parse_run_args,
    signature_hash,
)
from .boot import PACKAGE_MOUNT
from .capacity import Spec
from .daemon import Launch

__all__ = ["ContainerPlan", "docker_binds"]

# This package, read-only, for callables that build nodes (a Lazy generator): the boot script
# puts it first on sys.path. It needs only the standard library and cloudpickle.
_PACKAGE = Path(__file__).resolve().parents[2]
# The docker CLI is mounted at /usr/local/bin/docker: make sure it is on the PATH.
_ON_PATH = 'case ":$PATH:" in *:/usr/local/bin:*) ;; *) PATH=$PATH:/usr/local/bin ;; esac\n'

#: co.data's shell commands, in the package lent to the container (they need its python3), and
#: the package itself for any Python there (`python pipeline.py step` imports conducto_nb), after
#: the image's own PYTHONPATH.
_LENT = (
    f"PATH=$PATH:{PACKAGE_MOUNT}/conducto_nb/data/bin\n"
    f"export PYTHONPATH=${{PYTHONPATH:+$PYTHONPATH:}}{PACKAGE_MOUNT}\n"
)
#: The name containers reach this machine's data service by, and the variable with its URL.
DATA_HOST, DATA_URL = "host.docker.internal", "CONDUCTO_DATA_URL"


@dataclass(frozen=True)
class ContainerPlan:
    """What a backend's containers share: who they belong to and the daemon they run on."""

    backend_id: str
    ncpu: float  # the daemon's cores: no quota above them
    socket_path: str | None  # the daemon's socket on this machine (None: a remote daemon)
    url: str

    def launch(self, job: Job, image: str) -> tuple[Spec, Launch]:
        """The job's signature and how to start a container for it; a BackendError naming
        the node when it cannot have one (a flag off the allowlist...)."""
        args = parse_run_args(job.docker_run_args, job.path)
        run_args = tuple(job.docker_run_args)
        spec = Spec(image, job.cpu, job.mem, job.requires_docker, run_args, job.gpu)
        sig = signature_hash(
            (spec.image, spec.cpu, spec.mem, spec.requires_docker, spec.run_args, spec.gpu)
        )
        labels = {
            **args.create.pop("labels", {}),
            PIPELINE_LABEL: job.pipeline_id,
            POOL_LABEL: sig,
            OWNER_LABEL: str(os.getpid()),
            BACKEND_LABEL: self.backend_id,
        }
        host = dict(args.host)
        host["nano_cpus"] = int(min(job.cpu, self.ncpu) * 1e9)
        host["mem_limit"] = host["memswap_limit"] = max(int(job.mem * 2**30), 6 * 2**20)
        binds = list(host.get("binds", []))
        if self.socket_path is not None:  # a local daemon: lend it this package
            binds.append(f"{_PACKAGE}:{PACKAGE_MOUNT}/conducto_nb:ro")
        if job.requires_docker:
            binds += docker_binds(self.socket_path, self.url, job.path)
        if binds:
            host["binds"] = binds
        if DATA_URL in job.env:  # co.data's service: this machine, as containers reach it
            host["extra_hosts"] = {DATA_HOST: "host-gateway", **host.get("extra_hosts", {})}
        if job.gpu:  # as `docker run --gpus N`: the daemon's GPU runtime picks the devices
            device = import_docker().types.DeviceRequest(count=job.gpu, capabilities=[["gpu"]])
            host["device_requests"] = [device]
        setup = _ON_PATH if job.requires_docker else ""
        if self.socket_path is not None:  # conducto-data-pipeline / -user, in the lent package
            setup += _LENT
        return spec, Launch(spec.image, labels, args.create, host, setup)


def docker_binds(socket_path: str | None, url: str, path: str) -> list[str]:
    """The mounts that give the node at `path` the daemon: its socket and this machine's
    docker CLI; a BackendError when the daemon is not on this machine."""
    if socket_path is None:
        why = f"requires_docker needs a daemon on this machine, not {url}"
        raise BackendError(why, path=path)
    binds = [f"{socket_path}:/var/run/docker.sock"]
    cli = shutil.which("docker")
    if cli:
        binds.append(f"{os.path.realpath(cli)}:/usr/local/bin/docker:ro")
    return binds
