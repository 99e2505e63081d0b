"""The paper's Figure 3: each class's softmax weights, and a CNN's first-layer filters, red positive and blue negative."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from matplotlib.figure import Figure
from torch import nn

from mnistlab.errors import UsageError
from mnistlab.visualize.canvas import DIVERGING, grid_shape, hide_ticks, new_figure


def _signed_maps(
    maps: torch.Tensor, titles: Sequence[str], columns: int, title: str, cell: float, label: str
) -> Figure:
    """Maps (K, H, W) on one colour scale symmetric around zero, red > 0 > blue, one colour bar."""
    maps = maps.detach().cpu().to(torch.float32)
    limit = float(maps.abs().max()) or 1.0
    rows, columns = grid_shape(maps.shape[0], columns)
    fig = new_figure(cell * columns + 1.4, cell * rows + 0.7)
    fig.suptitle(title)
    axes = fig.subplots(rows, columns, squeeze=False)
    im = None
    for i, ax in enumerate(axes.flat):
        hide_ticks(ax)
        if i >= maps.shape[0]:
            ax.set_axis_off()
            continue
        im = ax.imshow(maps[i].numpy(), cmap=DIVERGING, vmin=-limit, vmax=limit)
        ax.set_title(titles[i], fontsize=9)
    fig.colorbar(im, ax=axes, shrink=0.8, label=label)
    return fig


def softmax_weights(weight: torch.Tensor, classes: Sequence[str] | None = None) -> Figure:
    """Figure 3: the weights (C, 784) of softmax regression as C maps of 28x28."""
    classes = classes or [str(c) for c in range(weight.shape[0])]
    return _signed_maps(
        weight.reshape(weight.shape[0], 28, 28),
        [f"class {c}" for c in classes],
        columns=5,
        title="Softmax weights per class (red: evidence for the class, blue: against)",
        cell=1.9,
        label="weight",
    )


def conv_filters(weight: torch.Tensor) -> Figure:
    """A convolution's filters (K, 1, kh, kw), e.g. the paper CNN's 32 of 5x5."""
    k, _, kh, kw = weight.shape
    return _signed_maps(
        weight[:, 0],
        [f"#{i}" for i in range(k)],
        columns=8,
        title=f"First-layer filters ({k} of {kh}x{kw}; red positive, blue negative)",
        cell=1.1,
        label="weight",
    )


def weights_figure(model: nn.Module, classes: Sequence[str] | None = None) -> Figure:
    """Figure 3 for any model: the first convolution's filters, else the weights of a linear model."""
    modules = list(model.modules())
    conv = next((m for m in modules if isinstance(m, nn.Conv2d)), None)
    if conv is not None:
        return conv_filters(conv.weight[:, :1])
    linear = next((m for m in modules if isinstance(m, nn.Linear)), None)
    if linear is not None and linear.in_features == 28 * 28:
        return softmax_weights(linear.weight, classes)
    raise UsageError(
        f"Cannot draw the weights of a {type(model).__name__}: it has no convolution and no 784-input layer."
    )
