"""Running Execs on a Dask distributed cluster (backend.py: the client side; on_worker.py: what
a worker does with one Exec; resources.py: cpu and mem matched to what workers declare)."""

from .backend import DaskBackend

__all__ = ["DaskBackend"]
