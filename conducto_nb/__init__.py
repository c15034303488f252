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

from importlib import import_module as _import_module
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

from . import api
from . import shared as shared  # `co.shared.log.unindent`, as in Conducto
from . import util as util  # `co.util.magic_doc(...)`, as in Conducto
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
from .errors import install_excepthook as _install_excepthook
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

if _TYPE_CHECKING:
    from . import data  # `co.data.pipeline.puts(...)`, as in Conducto
    from . import integrations as integrations
    from . import nb as nb  # `with co.nb.cell():`, as in Conducto
    from .backends.choice import default_backend
    from .backends.dask.backend import DaskBackend
    from .backends.docker.backend import DockerBackend
    from .backends.local.backend import LocalBackend
    from .data.client import perm_data, temp_data  # Conducto's co.data.pipeline / user
    from .integrations import git, slack

__version__ = "0.1.0"

_install_excepthook()  # a script's uncaught PipelineError shows as a notebook shows it

#: Imported on first use: what a pipeline that never touches them should not pay for at
#: `import conducto_nb` (the data client's HTTP and email modules, the Dask client's...).
_LAZY = {
    "data": ("conducto_nb.data", None),
    "temp_data": ("conducto_nb.data.client", "temp_data"),
    "perm_data": ("conducto_nb.data.client", "perm_data"),
    "git": ("conducto_nb.integrations.git", None),
    "integrations": ("conducto_nb.integrations", None),
    "nb": ("conducto_nb.nb", None),
    "slack": ("conducto_nb.integrations.slack", None),
    "DaskBackend": ("conducto_nb.backends.dask.backend", "DaskBackend"),
    "DockerBackend": ("conducto_nb.backends.docker.backend", "DockerBackend"),
    "LocalBackend": ("conducto_nb.backends.local.backend", "LocalBackend"),
    "default_backend": ("conducto_nb.backends.choice", "default_backend"),
}

__all__ = [
    "ActionError",
    "BackendError",
    "CommandError",
    "ConfigError",
    "ContainerReuseContext",
    "DaskBackend",
    "DataError",
    "DataNotFound",
    "DockerBackend",
    "Exec",
    "Image",
    "ImageBuildError",
    "ImageResult",
    "ImageState",
    "Lazy",
    "LocalBackend",
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
    "default_backend",
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
    if name in _LAZY:
        module, attribute = _LAZY[name]
        value = _import_module(module)
        value = value if attribute is None else getattr(value, attribute)
        globals()[name] = value
        return value
    if name in _SERVICE_ONLY:
        raise AttributeError(_SERVICE_ONLY[name])
    raise AttributeError(f"module 'conducto_nb' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
