"""The robustness section's figures: the corruptions, each row's accuracy under them, and one model's mistakes.

Drawn only for a report with a robustness section (`robust_rows`); the mistakes are those of
MISTAKES_ROW's lowest finished seed, or of the last row measured if that row did not run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import torch
from matplotlib.figure import Figure

from mnistlab import visualize
from mnistlab.data.splits import Dataset
from mnistlab.reader.prediction import predict_logits
from mnistlab.report.robust_rows import CorruptedTest
from mnistlab.report.run_figures import FIGURES_DIR, FigureSpec, first_finished, run_name, run_source
from mnistlab.runs import checkpoint as ckpt

# The model whose mistakes under corruption are shown: the recipe made for handwriting if it ran.
MISTAKES_ROW = "cnn-robust"


SAMPLES_SHOWN = 4


def robustness_specs(
    out_dir: Path, data: Dataset, rows: Sequence[dict[str, Any]], corrupted: CorruptedTest
) -> list[FigureSpec]:
    """Samples of each corruption, accuracy under each per row, and one model's worst mistakes under them."""
    measured = [row for row in rows if row.get("robustness")]
    if not measured:
        return []
    severity = measured[0]["robustness"]["severity"]
    samples = data.test.images[:SAMPLES_SHOWN]
    bars = {row["title"]: row["robustness"] for row in measured}
    featured = next((row for row in measured if row["key"] == MISTAKES_ROW), measured[-1])
    run = first_finished(featured)
    return [
        FigureSpec(
            f"{FIGURES_DIR}/corruptions.png",
            "The corruptions of the robustness benchmark",
            f"The first {SAMPLES_SHOWN} test images, clean and under each corruption at severity {severity} "
            "(the parameter under each column; `mnistlab evaluate RUN --robustness`).",
            f"corruptions:{data.name}:{severity}",
            partial(visualize.corruption_samples, samples, severity=severity),
        ),
        FigureSpec(
            f"{FIGURES_DIR}/robustness.png",
            "Accuracy under corruption",
            "Test accuracy under each corruption, their mean and clean; the mean over each row's finished seeds.",
            "robustness:" + json.dumps(bars, sort_keys=True),
            partial(visualize.robustness_bars, bars),
        ),
        FigureSpec(
            f"{FIGURES_DIR}/corrupted-mistakes.png",
            "Most confident mistakes under corruption",
            f"Corrupted test images (all corruptions at severity {severity}) that the model got wrong with the "
            f"highest probability on its answer. From {run_name(featured, run)}.",
            run_source(out_dir, run) + f":corrupted{severity}",
            partial(_corrupted_gallery, out_dir / run["run_dir"], data, corrupted),
        ),
    ]


def _corrupted_gallery(run_dir: Path, data: Dataset, corrupted: CorruptedTest) -> Figure:
    model, _ = ckpt.load_model(run_dir)
    splits = corrupted.get().values()
    images = torch.cat([s.images for s in splits])
    labels = torch.cat([s.labels for s in splits])
    logits = predict_logits(model, images)
    return visualize.misclassified_gallery(
        images, labels, logits, classes=data.classes, what="corrupted images"
    )
