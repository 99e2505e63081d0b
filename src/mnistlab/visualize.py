"""The paper's figures and the report's plots, as matplotlib Figures drawn headless.

Every function takes tensors or plain data and returns a `matplotlib.figure.Figure` built
with the object-oriented API on an Agg canvas, so no global pyplot state and no display
is involved; `save_figure` writes one atomically in the format its file extension names.

    Figure 1  `digit_grid`       random digits, each titled with its label
    Figure 2  `digit_matrix`     one digit as its 28x28 matrix of intensities
    Figure 3  `softmax_weights`  each class's weights, red positive and blue negative
              `conv_filters`     a CNN's first-layer filters, same colours
              `training_curves`, `confusion_figure`, `misclassified_gallery`
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from torch import nn

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


def _grid_shape(n: int, columns: int | None) -> tuple[int, int]:
    columns = columns or math.ceil(math.sqrt(n))
    return math.ceil(n / columns), columns


def _hide_ticks(ax: Any) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def _is_digits(classes: Sequence[str] | None) -> bool:
    return classes is None or all(name == str(c) for c, name in enumerate(classes))


def _class_name(label: int, classes: Sequence[str] | None) -> str:
    """A label as people read it: the digit itself, or the class name ("Ankle boot")."""
    return str(label) if classes is None else classes[label]


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
    rows, columns = _grid_shape(n, columns)
    fig = new_figure(1.2 * columns + 0.4, 1.3 * rows + 0.5)
    fig.suptitle(title)
    axes = fig.subplots(rows, columns, squeeze=False)
    for i, ax in enumerate(axes.flat):
        _hide_ticks(ax)
        if i >= n:
            ax.set_axis_off()
            continue
        ax.imshow(images[i].cpu().numpy(), cmap=INK, vmin=0, vmax=255)
        label = int(labels[i])
        ax.set_title(f"label {label}" if _is_digits(classes) else _class_name(label, classes), fontsize=9)
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


def _signed_maps(
    maps: torch.Tensor, titles: Sequence[str], columns: int, title: str, cell: float, label: str
) -> Figure:
    """Maps (K, H, W) on one colour scale symmetric around zero, red > 0 > blue, one colour bar."""
    maps = maps.detach().cpu().to(torch.float32)
    limit = float(maps.abs().max()) or 1.0
    rows, columns = _grid_shape(maps.shape[0], columns)
    fig = new_figure(cell * columns + 1.4, cell * rows + 0.7)
    fig.suptitle(title)
    axes = fig.subplots(rows, columns, squeeze=False)
    im = None
    for i, ax in enumerate(axes.flat):
        _hide_ticks(ax)
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


def training_curves(metrics: Sequence[Mapping[str, Any]], *, title: str = "Training") -> Figure:
    """Loss and validation accuracy against step, from a run's metrics.jsonl records."""
    fig = new_figure(10, 3.8)
    fig.suptitle(title)
    loss_ax, val_ax = fig.subplots(1, 2)
    steps = [m["step"] for m in metrics]
    loss_ax.plot(steps, [m["loss"] for m in metrics], color="tab:blue", linewidth=1)
    loss_ax.set_title("training loss (one batch)")
    loss_ax.set_xlabel("step")
    loss_ax.set_ylabel("cross-entropy")
    evaluated = [m for m in metrics if m.get("evaluated") and m.get("val_accuracy") is not None]
    val_ax.plot(
        [m["step"] for m in evaluated],
        [100 * m["val_accuracy"] for m in evaluated],
        color="tab:red",
        marker="o",
        markersize=3,
    )
    val_ax.set_title("validation accuracy (5,000 images)")
    val_ax.set_xlabel("step")
    val_ax.set_ylabel("accuracy (%)")
    for ax in (loss_ax, val_ax):
        ax.grid(alpha=0.3)
    return fig


def accuracy_against_steps(panels: Sequence[Mapping[str, Any]]) -> Figure:
    """Test accuracy against training steps, one panel per model, on a log step axis.

    Each panel: {"title", "series": [{"label", "steps", "mean", "std"}], "paper": [(step, accuracy)]},
    accuracies as fractions; `std` entries may be None (one seed: no error bar).
    """
    fig = new_figure(5.2 * len(panels), 4.4)
    fig.suptitle("Test accuracy at milestone steps inside each run (test evaluations: they select nothing)")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, panel in zip(axes, panels, strict=True):
        for series in panel["series"]:
            ax.errorbar(
                series["steps"],
                [100 * m for m in series["mean"]],
                yerr=[0.0 if s is None else 100 * s for s in series["std"]],
                marker="o",
                markersize=4,
                capsize=4,
                label=series["label"],
            )
        if panel.get("paper"):
            steps, accuracies = zip(*panel["paper"], strict=True)
            ax.plot(steps, [100 * a for a in accuracies], linestyle="none", marker="*", markersize=11,
                    color="black", label="paper")  # fmt: skip
        ax.set_xscale("log")
        ax.set_title(panel["title"])
        ax.set_xlabel("training steps (log scale)")
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(loc="lower right")
    return fig


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
    rows, columns = _grid_shape(n, columns)
    fig = new_figure(1.4 * columns + 0.4, 1.6 * rows + 0.5)
    errors = int((logits.argmax(1).cpu() != labels.cpu()).sum())
    what = what or ("test digits" if _is_digits(classes) else "test images")
    fig.suptitle(f"Most confidently misclassified {what} ({errors:,} errors in all)")
    axes = fig.subplots(rows, columns, squeeze=False)
    for i, ax in enumerate(axes.flat):
        _hide_ticks(ax)
        if i >= len(index):
            ax.set_axis_off()
            continue
        ax.imshow(images[index[i]].cpu().numpy(), cmap=INK, vmin=0, vmax=255)
        ax.set_title(
            f"true {_class_name(int(labels[index[i]]), classes)}, said "
            f"{_class_name(int(predicted[i]), classes)}\np = {float(probability[i]):.3f}",
            fontsize=8,
        )
    return fig


def corruption_samples(images: torch.Tensor, *, severity: int = 3, seed: int = 0) -> Figure:
    """Each digit of uint8 `images` (N, 28, 28) clean and under every corruption, one row each."""
    from mnistlab.corruptions import CORRUPTIONS, SEVERITIES, corrupt

    columns = ["clean", *CORRUPTIONS]
    panels = [images, *(corrupt(images, name, severity, seed=seed) for name in CORRUPTIONS)]
    rows = images.shape[0]
    fig = new_figure(1.15 * len(columns) + 0.3, 1.25 * rows + 0.9)
    fig.suptitle(f"Corruptions at severity {severity} (mnistlab evaluate --robustness)")
    axes = fig.subplots(rows, len(columns), squeeze=False)
    for c, (name, panel) in enumerate(zip(columns, panels, strict=True)):
        for r in range(rows):
            ax = axes[r, c]
            _hide_ticks(ax)
            ax.imshow(panel[r].cpu().numpy(), cmap=INK, vmin=0, vmax=255)
        axes[0, c].set_title(name.replace("_", "\n"), fontsize=8)
        if name != "clean":
            value = SEVERITIES[name].values[severity - 1]
            axes[-1, c].set_xlabel(str(value), fontsize=7)
    return fig


def robustness_bars(results: Mapping[str, Mapping[str, Any]]) -> Figure:
    """Accuracy per corruption, their mean and clean, one bar per model.

    `results` maps a model's label to its robustness result as a dict (the contents of
    `robustness.json`: "corruptions" {name: accuracy}, "mean", "clean", "severity", "split").
    """
    from mnistlab.corruptions import in_benchmark_order

    labels = list(results)
    first = results[labels[0]]
    corruptions = in_benchmark_order(list(first["corruptions"]))
    names = [*corruptions, "mean", "clean"]
    height = 0.8 / max(1, len(labels))
    fig = new_figure(7.5, 0.32 * len(names) * max(1, len(labels)) ** 0.5 + 1.6)
    ax = fig.subplots()
    for m, label in enumerate(labels):
        r = results[label]
        values = [100 * r["corruptions"].get(n, float("nan")) for n in corruptions]
        values += [100 * r["mean"], 100 * r["clean"]]
        ys = [i + (m - (len(labels) - 1) / 2) * height for i in range(len(names))]
        ax.barh(ys, values, height=height, label=label)
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("accuracy (%)")
    ax.axhline(len(names) - 2.5, color="grey", linewidth=0.8)
    ax.set_title(f"Accuracy under corruption ({first['split']} split, severity {first['severity']})")
    # Below the axes, so no bar is hidden behind it.
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=2, fontsize=8, frameon=False)
    return fig
