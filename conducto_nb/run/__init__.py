"""Running a tree: the pure scheduler core and the thin runner that does its I/O.

Read first: scheduler.py (`Scheduler.handle(event) -> instructions`, every ordering, skip,
stop_on_error and retry rule, testable without a process) and status_tree.py (its view of
the tree); then runner.py (carries the instructions out on a backend, on the background loop
of loop.py; jobs.py makes each attempt's Job and env), launch.py (`start` / `run`), runs.py
and results.py (the Run handle and what a node came to), record.py (a run's state readable
from any thread). control.py, ownership.py (leases), adoption.py (taking over a dead owner's
run), detaching.py and detached.py (a run in a process of its own) let other processes act
on a run; image_builds.py builds a run's co.Images before the nodes that need them;
callbacks.py and notify.py carry out the nodes' callbacks; store_observer.py writes a run
into the store.

May import: errors, images, model, store, backends. The Run's notebook repr reaches widget/
through lazy imports, each commented.
"""
