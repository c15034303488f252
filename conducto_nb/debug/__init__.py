"""Debug any node one cell away, as Conducto's `debug` and `livedebug` did: a node's exact
container (image, env with secrets, limits, docker socket, co.data, working copy) with its
command in /conducto/cmd.sh, or on the local backend a shell environment with its env.

`%load_ext conducto_nb` (conducto_nb.load_ipython_extension) imports the magics (magics.py)
only then; `debug(run, path)` (start.py) is the Python API they and the widget's debug button
call. spec.py reads what a node's attempt is given, container.py and local.py are the two
kinds of session, session.py what both offer.

May import: errors, data, images, model, store, backends, run (beside run/, not above it; the
widget registers its debug button from conducto_nb.load_ipython_extension).
"""

from __future__ import annotations

from .session import DebugSession, Ran
from .start import debug, stop_all

__all__ = ["DebugSession", "Ran", "debug", "stop_all"]
