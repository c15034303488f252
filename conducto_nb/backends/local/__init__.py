"""The local backend, the embedded default where no Docker daemon answers: shell commands as
process groups of their own, Python callables in warm worker processes.

Read first: backend.py, then process.py (one watched process), pool.py and worker.py (the
warm Python workers). May import: errors, images, model, and backends/base.py.
"""
