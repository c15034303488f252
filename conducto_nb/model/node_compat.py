"""The parts of Conducto's Node that a script may call and that conducto_nb names otherwise:
`str(node)` is the node's path, `stream()` walks the tree, `get_inherited_attribute` reads a
parameter as the node sees it, `image_name` names the image the node runs in."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import ParameterError, suggest
from .params import PARAMS

if TYPE_CHECKING:
    from .node_params import EffectiveParams
    from .nodes import Node

__all__ = ["ConductoNodeMethods"]


class ConductoNodeMethods:
    """Mixed into Node: Conducto 0.1.x's spellings, each meaning what it meant there."""

    if TYPE_CHECKING:  # what Node gives them

        @property
        def path(self) -> str: ...
        @property
        def children(self) -> Mapping[str, Node]: ...
        @property
        def params(self) -> EffectiveParams: ...
        def walk(self) -> Iterator[Node]: ...

    def __str__(self) -> str:
        """The node's full path, as Conducto printed it (`repr` says what kind it is)."""
        return self.path

    def stream(self, reverse: bool = False) -> Iterator[Node]:
        """Every node of this subtree: parents before their children, in order, or with
        `reverse` children before their parents (a teardown order)."""
        if not reverse:
            yield from self.walk()
            return
        for child in self.children.values():
            yield from child.stream(reverse=True)
        yield self  # type: ignore[misc]  # (self is the Node this is mixed into)

    def get_inherited_attribute(self, attr: str) -> Any:
        """A parameter's value here: the node's own, else the nearest ancestor's, else the
        default (`node.params[attr]` also says where it came from)."""
        if attr == "image_name":
            return self.image_name
        if attr not in PARAMS:
            raise ParameterError(
                f"unknown parameter `{attr}`{suggest(attr, PARAMS)}", path=self.path, param=attr
            )
        return self.params[attr].value

    @property
    def image_name(self) -> str | None:
        """The name of the image the node runs in (a docker name or a co.Image's tag), or None
        where no image is set (the backend's default)."""
        image = self.params["image"].value
        if image is None:
            return None
        return str(getattr(image, "name", image))
