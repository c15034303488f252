"""The Dask backend: each Exec attempt one task on a Dask distributed cluster, for work beyond
one machine.

Read first: backend.py (the client side: submit, output, kill), then on_worker.py (what a
worker does with one attempt: the local backend runs it), resources.py (cpu and mem matched
to what workers declare). May import: errors, model, backends/base.py and backends/local;
`distributed` only where a Dask pipeline runs, never at `import conducto_nb`.
"""

from .backend import DaskBackend

__all__ = ["DaskBackend"]
