"""The Docker backend: warm containers in pools matched by resources (reuse for speed), one
container per NEW subtree (reuse for state).

Read first: backend.py, then pool.py (pools and their growth), capacity.py (what a container
holds of the machine), spares.py (fresh containers started ahead for the next pipeline),
worker.py (a container's worker shell and its jobs), launch.py (what a job's container is),
script.py and boot.py (what runs inside it), daemon.py (every SDK call, off the event loop),
args.py (docker_run_args), python_check.py (whether an image can run callables). May import:
errors, images, model, store, and backends/base.py.
"""
