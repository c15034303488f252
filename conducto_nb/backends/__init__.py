"""Backends run one Exec each and report how it ended: base.py is the contract (read it
first), choice.py picks one by name, local/ runs processes on this machine, docker/ runs warm
containers; cpu_budget.py shares the cores; guard.py ends a dead owner's jobs (process
groups and containers) at once.

May import: errors, images, model, store. Never run/: the runner calls backends, not back.
"""
