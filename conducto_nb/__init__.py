"""conducto_nb: build a tree of Serial, Parallel and Exec nodes in a notebook, run it, watch it.

    import conducto_nb as co

    with co.Serial(image="python:3.11-slim") as root:
        co.Exec("pip install -r requirements.txt", name="install")
        with co.Parallel(name="test"):
            co.Exec("pytest tests/unit", name="unit")
            co.Exec("ruff check .", name="lint")

A Conducto 0.1.x script runs with only its import changed: the public names below are the
whole API, and every one of them is also importable from its own module.
"""

from typing import Any as _Any

from . import api, git, slack
from . import data as data  # `co.data.pipeline.puts(...)`, as in Conducto
from . import shared as shared  # `co.shared.log.unindent`, as in Conducto
from . import util as util  # `co.util.magic_doc(...)`, as in Conducto
from .backends.dask import DaskBackend
from .data.client import perm_data, temp_data  # Conducto's names for co.data.pipeline / user
from .errors import (
    ActionError,
    BackendError,
    CommandError,
    ConfigError,
    DataError,
    DataNotFound,
    ImageBuildError,
    NodeNotFound,
    ParameterError,
    PipelineError,
    PipelineNotFound,
    SerializationError,
    StoreError,
    TreeError,
)
from .images.image import Image
from .images.paths import Path, relpath
from .main import main
from .model import callbacks as callback
from .model.execs import Exec, Lazy
from .model.glue import Params, lazy_py, lazy_shell
from .model.nodes import Node, Parallel, Serial
from .model.notebook import Notebook
from .model.params import ContainerReuseContext, SameContainer
from .model.secrets import secret
from .model.states import ImageState, NodeStatus, State
from .run.results import ImageResult, NodeResult
from .run.runs import Run, load
from .util import env_bool

__version__ = "0.1.0"

__all__ = [
    "ActionError",
    "BackendError",
    "CommandError",
    "ConfigError",
    "ContainerReuseContext",
    "DaskBackend",
    "DataError",
    "DataNotFound",
    "Exec",
    "Image",
    "ImageBuildError",
    "ImageResult",
    "ImageState",
    "Lazy",
    "Node",
    "NodeNotFound",
    "NodeResult",
    "NodeStatus",
    "Notebook",
    "Parallel",
    "ParameterError",
    "Params",
    "Path",
    "PipelineError",
    "PipelineNotFound",
    "Run",
    "SameContainer",
    "Serial",
    "SerializationError",
    "State",
    "StoreError",
    "TreeError",
    "__version__",
    "api",
    "callback",
    "data",
    "env_bool",
    "git",
    "lazy_py",
    "lazy_shell",
    "load",
    "load_ipython_extension",
    "main",
    "perm_data",
    "relpath",
    "secret",
    "slack",
    "temp_data",
]

# Conducto modules that only worked with its hosted service: naming one says so, and what to
# use instead, rather than a bare AttributeError (`hasattr` still answers False).
_SERVICE_ONLY = {
    "profile": "co.profile logged in to Conducto's service, which is gone; runs are stored on "
    "this machine under $CONDUCTO_NB_HOME, with no login",
    "schedule": "co.schedule scheduled pipelines on Conducto's service, which is gone; start "
    "the script with --run from cron or a CI schedule",
}


def load_ipython_extension(ipython: _Any) -> None:
    """`%load_ext conducto_nb`: the `%co_debug` / `%%co_debug` magics (conducto_nb/debug) and
    the graph panel's debug button."""
    from .debug.magics import DebugMagics  # IPython's magic machinery: only when loaded
    from .debug.start import panel_debug
    from .widget import set_debug_handler

    ipython.register_magics(DebugMagics)
    set_debug_handler(panel_debug)


def __getattr__(name: str) -> object:
    if name in _SERVICE_ONLY:
        raise AttributeError(_SERVICE_ONLY[name])
    raise AttributeError(f"module 'conducto_nb' has no attribute {name!r}")
