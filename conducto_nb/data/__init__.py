"""co.data: objects stored by name for one pipeline run (`co.data.pipeline`, Conducto's
`co.temp_data`) or across a user's runs (`co.data.user`, `co.perm_data`), reached the same way
from the notebook, a local process and a container, with no shared filesystem.

Read first: client.py (the interface, standard library only: containers run it as a lone
file), service.py (the aiohttp server the owner of a run starts; tokens per pipeline), store.py
(the objects on disk under $CONDUCTO_NB_HOME/data, written atomically), commands.py and
bin/ (the `conducto-data-pipeline` / `conducto-data-user` shell commands; client.sh where an
image has no Python).

May import: errors (client.py and store.py fall back to stdlib copies when run alone).
"""

from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import DataError, DataNotFound

if TYPE_CHECKING:
    from .client import pipeline, user

__all__ = ["COMMANDS", "DataError", "DataNotFound", "pipeline", "user"]

#: The folder of the `conducto-data-pipeline` / `conducto-data-user` shell commands: a
#: backend puts it on a shell node's PATH (its python3 runs client.py as a lone file).
COMMANDS = Path(__file__).resolve().parent / "bin"


def __getattr__(name: str) -> object:
    """`pipeline` and `user` come with client.py, imported on first use: a run's owner needs
    only the store and the commands' folder (the client's HTTP modules are for nodes)."""
    if name in ("pipeline", "user"):
        from . import client

        value = getattr(client, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
