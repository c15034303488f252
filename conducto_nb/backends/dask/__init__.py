"""The Dask backend: each Exec attempt one task on a Dask distributed cluster, for work beyond
one machine.

Read first: backend.py (the client side: submit, output, kill, and `images=`), then
on_worker.py (what a worker does with one attempt), runners.py (the worker's local and Docker
backends that run it), claims.py (the scheduler plugin that refuses a second run of an
attempt), images.py (co.Images built where the pipeline runs), resources.py (cpu and mem
matched to what workers declare). May import: errors, model, images, backends/base.py,
backends/local and backends/docker; `distributed` only where a Dask pipeline runs, never at
`import conducto_nb`.
"""

from .backend import DaskBackend

__all__ = ["DaskBackend"]
