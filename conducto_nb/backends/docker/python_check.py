"""Whether an image can run Python callables: cloudpickle needs python3 with cloudpickle, of
this kernel's version, on the container's side. Asked once per image (the first container of
it answers), so a node that cannot run says why at once instead of failing to unpickle.
"""

from __future__ import annotations

import asyncio
import sys

from ...errors import BackendError
from .worker import Container

__all__ = ["PythonChecks"]

_PROBE = (
    "command -v python3 >/dev/null 2>&1 || { echo none; exit 0; }; "
    "python3 -c 'import sys; print(\"%d.%d\" % sys.version_info[:2]); import cloudpickle'"
)


class PythonChecks:
    """What each image's Python is, as far as callables care; bound to one event loop."""

    def __init__(self) -> None:
        self._found: dict[str, asyncio.Future[str]] = {}

    def clear(self) -> None:
        self._found.clear()

    async def problem(self, container: Container, image: str, path: str) -> str | None:
        """Why callables cannot run in `image` (no Python, no cloudpickle, another version),
        naming the node at `path`; None when they can."""
        probe = self._found.get(image)
        if probe is None:
            probe = self._found[image] = asyncio.get_running_loop().create_future()
            try:
                code, out = await container.probe(_PROBE)
                if code is None:
                    raise BackendError(
                        f"container {container.short} ended while checking its Python"
                    )
            except BaseException:
                del self._found[image]
                probe.cancel()
                raise
            word = out.strip().splitlines()[0] if out.strip() else ""
            probe.set_result(word if code == 0 else f"nocloudpickle {word}")
        found = await asyncio.shield(probe)
        ours = f"{sys.version_info.major}.{sys.version_info.minor}"
        if found == "none" or not found:
            why = (
                f"image {image} has no python3: a Python callable needs Python {ours} in its image"
            )
        elif found.startswith("nocloudpickle"):
            why = f"image {image} has no cloudpickle: pip install cloudpickle in the image"
        elif found != ours:
            why = (
                f"image {image} has Python {found} but this kernel runs Python {ours}: "
                "cloudpickle needs the same version on both ends"
            )
        else:
            return None
        return f"{path}: {why}"
