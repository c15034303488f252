"""The pipeline tree: the Node every kind shares (its children, paths and parameters) and the
containers Serial and Parallel; Exec and Lazy are in execs.py. Around it: building.py (how a
node joins a `with` block, and what it may be named), node_params.py (parameters as a node
sees them) and tree_text.py (the tree as text).

Nothing here runs anything: a tree is plain data that the scheduler core walks and that
serialises losslessly (serialize.py) for the store, the widget and remote workers.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import NodeNotFound, ParameterError, TreeError, suggest
from . import params as P
from .building import detached, enter, free_name, innermost, leave, valid_name
from .callbacks import CallbackHolder
from .node_compat import ConductoNodeMethods
from .node_params import CHANGES, ParamHolder, param_property
from .tree_text import PrettyTree, render_tree

if TYPE_CHECKING:
    from ..run.runs import Run  # up a layer, for typing only

__all__ = ["Node", "Parallel", "Serial"]


class Node(ParamHolder, CallbackHolder, ConductoNodeMethods):
    """A node of the pipeline tree. Use Serial, Parallel or Exec; every parameter of the table
    in params.py is a keyword here and an attribute afterwards (`node.cpu = 2`)."""

    kind: ClassVar[str] = ""
    #: Public attributes, other than parameters and properties, that instances set.
    _ATTRIBUTES: ClassVar[frozenset[str]] = frozenset()

    # Parameter attributes are generated from params.PARAMS below; declared for type checkers.
    image: Any
    cpu: float
    mem: float
    gpu: int
    env: dict[str, str]
    requires_docker: bool
    docker_run_args: list[str]
    max_time: float
    retries: int
    skip: bool
    suppress_errors: bool
    doc: str | None
    title: str | None
    tags: list[str]

    def __init__(self, *, name: str | None = None, **params: Any) -> None:
        self._own: dict[str, Any] = {}
        self._children: dict[str, Node] = {}
        self._parent: Node | None = None
        self._name: str | None = None
        enclosing = innermost()
        #: Joined a `with` block by being built in it; `block["x"] = node` may still move it.
        self._from_block = enclosing is not None
        if enclosing is not None:
            enclosing._adopt(self, name)
        elif name is not None:
            self._name = valid_name(name, "/")
        try:
            self.update_params(params)
            self._validate()
        except BaseException:
            if enclosing is not None:  # leave no half-built node in the user's tree
                enclosing._children.pop(self._name or "", None)
                self._parent = None
            raise

    # -- parameters ---------------------------------------------------------------------
    def set(self, **params: Any) -> None:
        """Conducto's `node.set(cpu=2, doc=...)`: set parameters after the node was built (a
        node made by a function, say); a parameter given as None is left as it is. `name=`
        puts a node that is in no tree yet into the enclosing `with` block under that name."""
        given = {k: v for k, v in params.items() if v is not None}
        name = given.pop("name", None)
        block = innermost()
        if name is not None and (block is None or self._parent is not None):
            where = f"it is already at {self.path}" if self._parent else "no `with` block is open"
            raise ParameterError(
                f"set(name={name!r}) places a new node in the enclosing `with` block: {where}",
                path=self.path,
                param="name",
            )
        if name is not None and block is not None:  # checked first: a failed set sets nothing
            valid_name(name, block.path)
            if name in block._children:
                raise TreeError(f"duplicate child name `{name}`", path=block.path)
        self.update_params(given)
        if name is not None and block is not None:
            block._adopt(self, name)

    # -- tree ---------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return "/" if self._parent is None else (self._name or "")

    @property
    def parent(self) -> Node | None:
        return self._parent

    @property
    def children(self) -> Mapping[str, Node]:
        return MappingProxyType(self._children)

    @property
    def root(self) -> Node:
        node = self
        while node._parent is not None:
            node = node._parent
        return node

    @property
    def path(self) -> str:
        if self._parent is None:
            return "/"
        parent = self._parent.path
        return f"{parent}{self._name}" if parent == "/" else f"{parent}/{self._name}"

    def walk(self) -> Iterator[Node]:
        """This node and all its descendants, parents before children, in order."""
        yield self
        for child in self._children.values():
            yield from child.walk()

    def _default_name(self) -> str:
        return self.kind

    def _validate(self) -> None:
        """Subclass checks that need the node's path for their error messages."""

    def replace_child(self, name: str, new: Node) -> Node:
        """Put `new` where the child `name` is, same name and position; returns the old child."""
        old = self._children[name]
        if new._parent is not None:
            raise TreeError(f"node is already in a tree at {new.path}", path=self.path)
        old._parent, new._parent, new._name = None, self, name
        self._children = {k: (new if k == name else v) for k, v in self._children.items()}
        return old

    def _check_adopt(self, child: Node, *, moving: bool = False) -> None:
        if not self.kind or self.kind == "exec":
            raise TreeError("an Exec cannot have children", path=self.path)
        if child._parent is not None and not moving:
            raise TreeError(f"node is already in a tree at {child.path}", path=self.path)
        node: Node | None = self
        while node is not None:
            if node is child:
                raise TreeError("a node cannot be placed inside its own subtree", path=self.path)
            node = node._parent

    def _adopt(self, child: Node, name: str | None) -> None:
        self._check_adopt(child)
        if name is None:
            name = free_name(child._default_name(), self._children)
        name = valid_name(name, self.path)
        if name in self._children:
            raise TreeError(f"duplicate child name `{name}`", path=self.path)
        child._name, child._parent = name, self
        CHANGES[0] = object()  # it inherits from here now
        self._children[name] = child

    def __getitem__(self, path: str) -> Node:
        node = self.root if path.startswith("/") else self
        for part in filter(None, path.split("/")):
            if part not in node._children:
                raise self._missing(path, node)
            node = node._children[part]
        return node

    def _missing(self, path: str, deepest: Node) -> NodeNotFound:
        """No node at `path`: say what the deepest node on the way has, and the nearest path."""
        names = list(deepest._children)
        shown = ", ".join(names[:12]) + (", …" if len(names) > 12 else "")
        there = f"; {deepest.path} has: {shown}" if names else f"; {deepest.path} has no children"
        wanted = path if path.startswith("/") else f"{self.path.rstrip('/')}/{path}"
        on_the_way = {"/"}  # the nodes the path went through: they are not what was meant
        step: Node | None = deepest
        while step is not None:
            on_the_way.add(step.path)
            step = step.parent
        hint = suggest(wanted, [n.path for n in self.root.walk() if n.path not in on_the_way])
        return NodeNotFound(f"no node at `{wanted}`{there}{hint}")

    def __setitem__(self, path: str, child: Node) -> None:
        """`root["test/unit"] = co.Exec(...)`: put `child` at `path`, making missing Serials.
        Everything is checked first, so a failed assignment changes nothing."""
        *parents, name = [p for p in path.split("/") if p] or [""]
        node = self.root if path.startswith("/") else self
        for part in [*parents, name]:
            valid_name(part, node.path)
        missing = list(parents)
        while missing and missing[0] in node._children:
            node = node._children[missing.pop(0)]
        # `root["x"] = co.Exec(...)` inside a `with` block: the Exec joined the block as it was
        # built, one statement ago; the assignment says where it really goes.
        old = child._parent
        moving = (
            old is not None
            and child._from_block
            and innermost() is old
            and next(reversed(old._children.values())) is child
        )
        node._check_adopt(child, moving=moving)
        if not missing and node._children.get(name, child) is not child:
            raise TreeError(f"duplicate child name `{name}`", path=node.path)
        if moving and old is not None:
            del old._children[child._name or ""]
            child._parent = None
            CHANGES[0] = object()
        child._from_block = False
        for part in missing:
            with detached():
                node._adopt(Serial(), part)
            node = node._children[part]
        node._adopt(child, name)

    def __contains__(self, path: str) -> bool:
        try:
            self[path]
        except NodeNotFound:
            return False
        return True

    def __enter__(self) -> Node:
        enter(self)
        return self

    def __exit__(self, *exc: object) -> None:
        leave()

    def pretty(self, statuses: Mapping[str, Any] | None = None) -> PrettyTree:
        """The tree as text, one node a line; with `statuses` (path -> label) beside each."""
        return render_tree(self, statuses)

    def _describe(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        n = len(self._children)
        return f"<{type(self).__name__} {self.path} ({n} child{'ren' if n != 1 else ''})>"

    # -- display in a notebook: the live graph (conducto_nb.widget, imported only here) ------
    def _ipython_display_(self) -> None:
        from ..widget import show  # up a layer: the graph is the widget's

        show(self)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        from ..widget import mimebundle  # up a layer: the graph is the widget's

        return mimebundle(self)

    # -- running (run/runner.py does the work; these are the doors) --------------------------
    def start(
        self,
        *,
        detach: bool = False,
        backend: Any = None,
        workdir: Any = None,
        name: str | None = None,
    ) -> Run:
        """Run this tree in the background and return its Run at once; the kernel stays
        usable. `detach=True` runs it in a process of its own that outlives this one."""
        from ..run.launch import start  # up a layer: running is run/'s

        return start(self, detach=detach, backend=backend, workdir=workdir, name=name)

    def run(self, *, backend: Any = None, workdir: Any = None, name: str | None = None) -> Run:
        """Run this tree to the end, blocking; a kernel interrupt (Ctrl-C) kills it cleanly."""
        from ..run.launch import run  # up a layer: running is run/'s

        return run(self, backend=backend, workdir=workdir, name=name)

    async def run_async(
        self, *, backend: Any = None, workdir: Any = None, name: str | None = None
    ) -> Run:
        """`await root.run_async()`: run to the end without blocking the event loop."""
        from ..run.launch import run_async  # up a layer: running is run/'s

        return await run_async(self, backend=backend, workdir=workdir, name=name)

    def to_json(self) -> dict[str, Any]:
        """This subtree as JSON-ready data; `Node.from_json` reads it back losslessly."""
        from .serialize import tree_to_json  # lazy: serialize imports every node class

        return tree_to_json(self)

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> Node:
        from .serialize import tree_from_json  # lazy: serialize imports every node class

        return tree_from_json(data)


for _name in P.PARAMS:
    setattr(Node, _name, param_property(_name))


class Serial(Node):
    """Runs its children one after another; with `stop_on_error` (default) it stops at the
    first failure, else it runs the rest and then reports the error."""

    kind = "serial"
    stop_on_error: bool
    container_reuse_context: P.ContainerReuseContext
    max_concurrent: int | None

    #: True on a Lazy node's `Execute` placeholder until its subtree has been generated.
    awaiting_generation: bool = False


class Parallel(Node):
    """Runs its children at the same time (within `max_concurrent` and the backend's budget)."""

    kind = "parallel"
    max_concurrent: int | None
