"""Test-session set-up shared by tests/ and the nbval-run notebooks/.

Every session (each xdist worker too) gets its own CONDUCTO_NB_HOME, set before any kernel
starts, so tests never read or write a user's ~/.conducto_nb and never see each other's
pipelines; it is removed when the session ends. Pipelines run on the local backend unless a
test or notebook asks for another (a machine with Docker would otherwise pick docker), or
$CONDUCTO_NB_BACKEND says otherwise: scripts/test.sh runs the notebooks again on Docker.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

_home = tempfile.mkdtemp(prefix="conducto_nb-test-")
os.environ["CONDUCTO_NB_HOME"] = _home
os.environ.setdefault("CONDUCTO_NB_BACKEND", "local")
atexit.register(shutil.rmtree, _home, ignore_errors=True)


def _docker_answers() -> bool:
    import socket

    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(1)
            sock.connect("/var/run/docker.sock")
        return True
    except OSError:
        return False


# Notebooks that need a Docker daemon: skipped on a laptop without one, never under CI.
NEEDS_DOCKER = {"03-reuse-for-speed.ipynb", "04-reuse-for-state.ipynb"}
collect_ignore = (
    [f"notebooks/{name}" for name in NEEDS_DOCKER]
    if (not os.environ.get("CI") and not _docker_answers())
    # scripts/test.sh's second pass runs the other notebooks on Docker: these ran on it already
    or os.environ.get("CONDUCTO_NB_NOTEBOOKS_ON") == "docker"
    else []
)
