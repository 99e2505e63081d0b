"""The paper's Figures 1 and 2: random digits titled with their labels, one digit as its matrix."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from matplotlib.figure import Figure

from mnistlab.visualize.canvas import INK, class_name, grid_shape, hide_ticks, is_digits, new_figure


def digit_grid(
    images: torch.Tensor,
    labels: Sequence[Any] | torch.Tensor,
    *,
    columns: int | None = None,
    title: str = "MNIST digits",
    classes: Sequence[str] | None = None,
) -> Figure:
    """Figure 1: uint8 images (N, 28, 28) in a grid, each titled with its label (or class name)."""
    n = images.shape[0]
    rows, columns = grid_shape(n, columns)
    fig = new_figure(1.2 * columns + 0.4, 1.3 * rows + 0.5)
    fig.suptitle(title)
    axes = fig.subplots(rows, columns, squeeze=False)
    for i, ax in enumerate(axes.flat):
        hide_ticks(ax)
        if i >= n:
            ax.set_axis_off()
            continue
        ax.imshow(images[i].cpu().numpy(), cmap=INK, vmin=0, vmax=255)
        label = int(labels[i])
        ax.set_title(f"label {label}" if is_digits(classes) else class_name(label, classes), fontsize=9)
    return fig


def _cell_text(value: float) -> str:
    """The paper's style: ".6" for 0.6, "1" for 1.0, never ".0" for faint ink."""
    # Faint ink keeps a significant digit: 0.02 -> ".02", 1/255 -> ".004".
    text = f"{value:.1f}" if value >= 0.05 else f"{value:.2f}" if value >= 0.005 else f"{value:.3f}"
    return "1" if text == "1.0" else text.lstrip("0")


def digit_matrix(image: torch.Tensor, label: Any, *, title: str | None = None) -> Figure:
    """Figure 2: one uint8 digit (28, 28) as a heat map of intensities in [0, 1], each non-zero cell printed."""
    values = image.cpu().to(torch.float32) / 255.0
    fig = new_figure(9.5, 8.5)
    ax = fig.add_subplot()
    im = ax.imshow(values.numpy(), cmap=INK, vmin=0.0, vmax=1.0)
    for row, col in torch.nonzero(values).tolist():
        v = float(values[row, col])
        # Light text on dark cells so every number stays readable.
        ax.text(
            col,
            row,
            _cell_text(v),
            ha="center",
            va="center",
            fontsize=7,
            color="white" if v > 0.5 else "black",
        )
    ax.set_title(title or f"Label {label}: the digit as a 28x28 matrix of intensities")
    ax.set_xlabel("pixel column")
    ax.set_ylabel("pixel row")
    ax.set_xticks(range(0, 28, 4))
    ax.set_yticks(range(0, 28, 4))
    fig.colorbar(im, ax=ax, shrink=0.8, label="intensity (0 = paper, 1 = ink)")
    return fig
