"""Test-session set-up shared by tests/ and the nbval-run notebooks/.

Every session (each xdist worker too) gets its own CONDUCTO_NB_HOME, set before any kernel
starts, so tests never read or write a user's ~/.conducto_nb and never see each other's
pipelines; it is removed when the session ends. Pipelines run on the local backend unless a
test or notebook asks for another (a machine with Docker would otherwise pick docker), or
$CONDUCTO_NB_BACKEND says otherwise: scripts/test.sh runs the notebooks again on Docker. Every
notebook runs on both: those that show Docker say what differs when no daemon answers.
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
