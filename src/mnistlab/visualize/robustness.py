"""The robustness benchmark's pictures: each corruption of a few digits, and accuracy per corruption."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from matplotlib.figure import Figure

from mnistlab.evaluation.corruptions import CORRUPTIONS, SEVERITIES, corrupt, in_benchmark_order
from mnistlab.visualize.canvas import INK, hide_ticks, new_figure


def corruption_samples(images: torch.Tensor, *, severity: int = 3, seed: int = 0) -> Figure:
    """Each digit of uint8 `images` (N, 28, 28) clean and under every corruption, one row each."""
    columns = ["clean", *CORRUPTIONS]
    panels = [images, *(corrupt(images, name, severity, seed=seed) for name in CORRUPTIONS)]
    rows = images.shape[0]
    fig = new_figure(1.15 * len(columns) + 0.3, 1.25 * rows + 0.9)
    fig.suptitle(f"Corruptions at severity {severity} (mnistlab evaluate --robustness)")
    axes = fig.subplots(rows, len(columns), squeeze=False)
    for c, (name, panel) in enumerate(zip(columns, panels, strict=True)):
        for r in range(rows):
            ax = axes[r, c]
            hide_ticks(ax)
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
