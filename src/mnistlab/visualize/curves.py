"""Training curves: loss and validation accuracy against steps, and the steps figure across runs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.figure import Figure

from mnistlab.visualize.canvas import new_figure


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
