"""The pipeline tree and its parameters, with no I/O: what a user builds in a cell.

Read first: params.py (the one table of node parameters), then nodes.py (Node, Serial,
Parallel) and execs.py (Exec, Lazy). states.py holds the node states and the events every
observer receives; serialize.py turns a tree into JSON and back; secrets.py masks values.

notebook.py is co.Notebook, an Exec built from a notebook file (../notebook/ runs it).

May import: errors, shared, notebook, images (a node's `image` may be a co.Image).
Node.start() / run() and a node's notebook repr reach up into run/ and widget/ through lazy
imports, each commented.
"""
