"""A notebook as a pipeline step (co.Notebook): the file read and checked when the tree is built,
the run of it in the job's own Python with parameters injected the papermill way, and the
executed copy kept as the node's result in the pipeline's co.data.

Read first: source.py (build time), execute.py (run time, standard library only at module
level: it travels by value into images without conducto_nb), kept.py (the result, its HTML).
The node class itself is model/notebook.py.

May import: errors, shared, data (where the executed notebook is kept).
"""
