"""The matplotlib backend of `co.nb.matplotlib_inline()`: figures drawn off screen (Agg), and
`plt.show()` prints each one into the node's output as a Markdown image, PNG inline, then
closes them, as Jupyter's inline backend does (a later `show()` prints only newer figures).
Inside a `co.nb.cell()` the images join that cell's block; elsewhere each show() makes one.
"""

from __future__ import annotations

import base64
import io

import matplotlib.pyplot as plt
from matplotlib.backend_bases import FigureManagerBase
from matplotlib.backends.backend_agg import FigureCanvasAgg

from .. import nb

__all__ = ["FigureCanvas", "FigureManager", "show"]

FigureCanvas = FigureCanvasAgg
FigureManager = FigureManagerBase


def show(*, block: bool | None = None) -> None:
    """Print every open figure as an inline PNG, then close them all."""
    images = []
    for number in plt.get_fignums():
        png = io.BytesIO()
        plt.figure(number).savefig(png, format="png", bbox_inches="tight")
        data = base64.b64encode(png.getvalue()).decode("ascii")
        images.append(f"![figure {number}](data:image/png;base64,{data})")
    plt.close("all")
    if not images:
        return
    text = "\n\n".join(images)
    print(text if nb.IN_MARKDOWN else f"\n{nb.OPEN}\n{text}\n{nb.CLOSE}", flush=True)
