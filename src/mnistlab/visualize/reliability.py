"""Reliability diagrams: how often the reader is right against how sure it says it is."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from matplotlib.figure import Figure

from mnistlab.visualize.canvas import new_figure


def reliability_diagram(report: Mapping[str, Any]) -> Figure:
    """One panel per image set of `evaluation.trust.calibration_report` ("clean", "corrupted"):
    accuracy per confidence bin with the raw softmax (T = 1) and with the run's temperature."""
    sets = [name for name in ("clean", "corrupted") if name in report]
    fig = new_figure(4.2 * len(sets), 4.2)
    fig.suptitle(f"Reliability (15 bins; temperature {report['temperature']:.3f})")
    axes = fig.subplots(1, len(sets), squeeze=False)[0]
    for ax, name in zip(axes, sets, strict=True):
        ax.plot([0, 1], [0, 1], color="grey", linewidth=0.8, linestyle="--", label="perfectly calibrated")
        for when, style in (("before", "o-"), ("after", "s-")):
            metrics = report[name][when]
            bins = [b for b in metrics["bins"] if b["count"]]
            label = f"{'T = 1' if when == 'before' else 'calibrated'}: ECE {metrics['ece']:.2%}"
            ax.plot(
                [b["confidence"] for b in bins],
                [b["accuracy"] for b in bins],
                style,
                markersize=4,
                label=label,
            )
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("confidence (top probability)")
        ax.set_ylabel("accuracy")
        ax.set_title(f"{name} ({report[name]['images']:,} images)")
        ax.legend(loc="upper left", fontsize=8)
    return fig
