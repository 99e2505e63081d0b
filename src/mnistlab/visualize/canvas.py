"""The canvas every figure is drawn on: headless Agg figures, saved atomically as PNG, SVG or PDF.

Every figure function in `mnistlab.visualize` takes tensors or plain data and returns a
`matplotlib.figure.Figure` built with the object-oriented API on an Agg canvas, so no global
pyplot state and no display is involved; `save_figure` writes one in the format its file
extension names.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from mnistlab.errors import UsageError
from mnistlab.fileio import atomic_write_bytes

FORMATS = ("png", "svg", "pdf")
DPI = 100  # pixels per inch of a saved PNG: a figure of (w, h) inches is (w*DPI, h*DPI) pixels
# The paper's convention for weights: red is evidence for the class, blue against it.
DIVERGING = "bwr"
INK = "gray_r"  # digits as dark ink on white paper, as the paper prints them


def new_figure(width: float, height: float) -> Figure:
    """An empty figure of (width, height) inches on its own Agg canvas."""
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def figure_bytes(fig: Figure, fmt: str = "png") -> bytes:
    """The figure encoded as PNG, SVG or PDF."""
    if fmt not in FORMATS:
        raise UsageError(f"Cannot save a figure as .{fmt}; use a file name ending in .png, .svg or .pdf.")
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, dpi=DPI)
    return buffer.getvalue()


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Write `fig` atomically to `path`; the extension picks the format (.png, .svg, .pdf)."""
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".") or "png"
    atomic_write_bytes(path, figure_bytes(fig, fmt))
    return path


def grid_shape(n: int, columns: int | None) -> tuple[int, int]:
    columns = columns or math.ceil(math.sqrt(n))
    return math.ceil(n / columns), columns


def hide_ticks(ax: Any) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def is_digits(classes: Sequence[str] | None) -> bool:
    return classes is None or all(name == str(c) for c, name in enumerate(classes))


def class_name(label: int, classes: Sequence[str] | None) -> str:
    """A label as people read it: the digit itself, or the class name ("Ankle boot")."""
    return str(label) if classes is None else classes[label]
