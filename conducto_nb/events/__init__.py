"""Git events: `.conducto.cfg` maps events (push, pr, tag...) to pipeline commands.

Read first: cfg.py (the file: sections, commands, duplicates), then variables.py (a command is
a shell command; its `{branch}`s become references to environment variables: data, never
code), filter.py (which events a section answers), guard.py (a second run of the same section
while the first goes on), environment.py (what a command's environment holds) and simulate.py
(a simulated event, run on a clean checkout as a webhook would), then webhook/ (the GitHub
webhook receiver, which runs events as the simulation does).

May import: errors, images, model, store, backends (beside run/, not above it).
"""
