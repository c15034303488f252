"""How a Python callable travels to the process that runs it: cloudpickle, keeping what a
traceback needs.

cloudpickle sends a function defined in a notebook cell (or a script's `__main__`) by value,
and renames its code to "<dynamic-code>": a failure in a worker then showed neither the cell nor
its lines. Here such code keeps its real file name, and the lines of that file (a cell's source,
which IPython keeps in `linecache`) travel with it into the worker's `linecache`, so the
traceback shows the user's own lines. The worker needs nothing but pickle: the lines are put in
place by standard-library calls recorded in the payload.
"""

from __future__ import annotations

import importlib
import io
import linecache
import operator
import pickle
import types
from typing import Any

import cloudpickle

from ..notebook import execute

__all__ = ["dumps"]

# A Notebook node's command calls notebook/execute.py's run_notebook: its code travels, as the
# images that run it lack conducto_nb. (Here, not in model/notebook.py: cloudpickle is
# imported with the first callable pickled, not by `import conducto_nb`.)
cloudpickle.register_pickle_by_value(execute)

_RENAMED = "<dynamic-code>"  # what cloudpickle calls code it sends by value


def dumps(obj: Any) -> bytes:
    """`cloudpickle.dumps(obj)`, with the file names and source lines of the code it sends."""
    buffer = io.BytesIO()
    _SourcePickler(buffer).dump(obj)
    return buffer.getvalue()


class _Call:
    """Pickles as `func(*args)`: the worker calls it while unpickling."""

    def __init__(self, func: Any, *args: Any) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return self.func, self.args


class _SourcePickler(cloudpickle.Pickler):  # type: ignore[misc]
    def __init__(self, file: io.BytesIO) -> None:
        super().__init__(file, protocol=pickle.DEFAULT_PROTOCOL)
        self._sent: set[str] = set()

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, types.CodeType):
            return self._code(obj)
        return super().reducer_override(obj)

    def _code(self, code: types.CodeType) -> Any:
        make, args = self.dispatch_table[types.CodeType](code)
        name = code.co_filename
        if _RENAMED not in args or name == _RENAMED:
            return make, args
        args = tuple(name if a == _RENAMED else a for a in args)
        lines = linecache.getlines(name)
        if name in self._sent or not lines:
            return make, args
        self._sent.add(name)
        cache = _Call(getattr, _Call(importlib.import_module, "linecache"), "cache")
        entry = (sum(map(len, lines)), None, list(lines), name)  # no mtime: never checked stale
        # (the code, linecache.cache[name] = entry)[0]: the code, with its lines in place
        both = (_Call(make, *args), _Call(operator.setitem, cache, name, entry))
        return operator.getitem, (both, 0)
