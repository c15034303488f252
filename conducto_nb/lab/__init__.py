"""The JupyterLab extension's server half: REST endpoints (handlers.py) over every recorded
pipeline (views.py) and its actions (actions.py), for the front end in labextension/ whose
build ships in ./labextension. `pip install` enables both: the wheel carries the server
extension's jupyter-config file and the built labextension in share/jupyter.

May import: everything below it (store, run, widget); nothing imports it but Jupyter.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["LABEXTENSION", "NAME"]

NAME = "conducto-nb-lab"
#: The built labextension, committed (scripts/build_lab.sh), so installing needs no Node.
LABEXTENSION = Path(__file__).parent / "labextension"


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "conducto_nb.lab"}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """For `jupyter labextension develop` of an editable install."""
    return [{"src": "labextension", "dest": NAME}]


def _load_jupyter_server_extension(server_app: Any) -> None:
    """Jupyter calls this when the server starts with the extension enabled."""
    from .handlers import ROUTE, setup_handlers

    setup_handlers(server_app.web_app)
    server_app.log.info(f"conducto_nb: the pipelines API is at /{ROUTE}/pipelines")
