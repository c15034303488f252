"""The store: every pipeline run in one sqlite file (WAL) under $CONDUCTO_NB_HOME, so a
restarted kernel, another process or the CLI reloads any pipeline and loses nothing.

Read first: pipelines.py (`Store`, the one class to call: pipelines, statuses, attempts),
then its parts: db.py (tables, connections, transactions), writer.py (batched writes off the
event loop), lease.py (owners, recovery), output.py (capped output), images.py (co.Image
builds). Never secrets: the runner masks them before they arrive.

May import: errors, images, model.
"""
