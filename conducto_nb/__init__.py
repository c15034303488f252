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

from .errors import (
    ActionError,
    CommandError,
    NodeNotFound,
    ParameterError,
    PipelineError,
    SerializationError,
    TreeError,
)
from .execs import Exec, Lazy
from .nodes import Node, Parallel, Serial
from .params import ContainerReuseContext
from .states import NodeStatus, State

#: Conducto's older name for ContainerReuseContext (`same_container=co.SameContainer.NEW`).
SameContainer = ContainerReuseContext

__version__ = "0.1.0"

__all__ = [
    "ActionError",
    "CommandError",
    "ContainerReuseContext",
    "Exec",
    "Lazy",
    "Node",
    "NodeNotFound",
    "NodeStatus",
    "Parallel",
    "ParameterError",
    "PipelineError",
    "SameContainer",
    "Serial",
    "SerializationError",
    "State",
    "TreeError",
    "__version__",
]
