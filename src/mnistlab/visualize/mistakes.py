"""Where a model is wrong: the confusion matrix and the misclassified digits it was surest of."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from mnistlab.visualize.canvas import INK, class_name, grid_shape, hide_ticks, is_digits, new_figure


def confusion_figure(confusion: Sequence[Sequence[int]] | torch.Tensor, classes: Sequence[str]) -> Figure:
    """A confusion matrix (rows: true class, columns: predicted) with each count printed."""
    counts = torch.as_tensor(confusion, dtype=torch.float64)
    total, errors = int(counts.sum()), int(counts.sum() - counts.diagonal().sum())
    fig = new_figure(7.5, 6.5)
    ax = fig.add_subplot()
    # A log scale, so that errors of a few images still show next to diagonals of ~1,000.
    shown = counts.masked_fill(counts == 0, float("nan")).numpy()
    im = ax.imshow(shown, cmap="Blues", norm=LogNorm(vmin=1, vmax=max(float(counts.max()), 2.0)))
    top = float(counts.max())
    for row, values in enumerate(counts.tolist()):
        for col, count in enumerate(values):
            if count:
                color = "white" if count > top**0.7 else "black"
                ax.text(col, row, f"{int(count)}", ha="center", va="center", fontsize=8, color=color)
    ax.set_xticks(range(len(classes)), classes)
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(f"Confusion matrix ({total:,} test images, {errors:,} errors)")
    fig.colorbar(im, ax=ax, shrink=0.8, label="images (log scale)")
    return fig


def confident_mistakes(
    logits: torch.Tensor, labels: torch.Tensor, n: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Indices, predictions and probabilities of the `n` most confident wrong predictions."""
    probabilities = logits.float().softmax(dim=1).cpu()
    confidence, predicted = probabilities.max(dim=1)
    wrong = predicted != labels.cpu()
    score = confidence.masked_fill(~wrong, -1.0)
    k = min(n, int(wrong.sum()))
    index = score.topk(k).indices
    return index, predicted[index], confidence[index]


def misclassified_gallery(
    images: torch.Tensor,
    labels: torch.Tensor,
    logits: torch.Tensor,
    *,
    n: int = 16,
    columns: int | None = None,
    classes: Sequence[str] | None = None,
    what: str | None = None,
) -> Figure:
    """The `n` images the model got wrong with the highest probability on its answer, each
    titled with the true and the predicted class (names when `classes` is given); `what`
    names the images in the title (default: "test digits" or "test images")."""
    index, predicted, probability = confident_mistakes(logits, labels, n)
    rows, columns = grid_shape(n, columns)
    fig = new_figure(1.4 * columns + 0.4, 1.6 * rows + 0.5)
    errors = int((logits.argmax(1).cpu() != labels.cpu()).sum())
    what = what or ("test digits" if is_digits(classes) else "test images")
    fig.suptitle(f"Most confidently misclassified {what} ({errors:,} errors in all)")
    axes = fig.subplots(rows, columns, squeeze=False)
    for i, ax in enumerate(axes.flat):
        hide_ticks(ax)
        if i >= len(index):
            ax.set_axis_off()
            continue
        ax.imshow(images[index[i]].cpu().numpy(), cmap=INK, vmin=0, vmax=255)
        ax.set_title(
            f"true {class_name(int(labels[index[i]]), classes)}, said "
            f"{class_name(int(predicted[i]), classes)}\np = {float(probability[i]):.3f}",
            fontsize=8,
        )
    return fig
