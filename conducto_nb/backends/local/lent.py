"""conducto_nb itself, lent to the Python of every local shell node: `python pipeline.py step`,
a Conducto script's usual command, imports the pipeline library in the node as it does here
(Conducto's images got it from `reqs_py=["conducto"]`; here every node has it, the one this
pipeline runs with, as containers have it mounted).

It goes on the node's PYTHONPATH (after the node's own entries) as a folder holding only a link
to this package, so no other package of this environment leaks into a node's Python (the
folder this package sits in may be a site-packages or a source checkout). Importing it needs
the standard library only.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ...store.db import home

__all__ = ["lent_pythonpath", "with_lent_package"]

PACKAGE = Path(__file__).resolve().parents[2]
#: The folder made, by $CONDUCTO_NB_HOME as set (a shell node's hot path: no home() call).
_made: dict[str | None, Path] = {}


def lent_pythonpath() -> Path:
    """The folder whose only entry is `conducto_nb` (a link to this package), made once."""
    setting = os.environ.get("CONDUCTO_NB_HOME")
    if setting in _made:
        return _made[setting]
    key = hashlib.sha256(str(PACKAGE).encode()).hexdigest()[:16]
    folder = home() / "python" / key
    link = folder / "conducto_nb"
    if not (link.is_symlink() and Path(os.readlink(link)) == PACKAGE):
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".conducto_nb.{os.getpid()}"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(PACKAGE, target_is_directory=True)
        tmp.replace(link)  # atomic: a node starting meanwhile sees the old link or the new
    _made[setting] = folder
    return folder


def with_lent_package(env: dict[bytes, bytes]) -> None:
    """Add the lent folder to `env`'s PYTHONPATH, after what is there."""
    lent = os.fsencode(lent_pythonpath())
    have = env.get(b"PYTHONPATH")
    env[b"PYTHONPATH"] = have + os.pathsep.encode() + lent if have else lent
