"""The report's figures in page order, each drawn only when its source changes.

Figures 1 and 2 come from the data; the others from the finished runs (`run_figures`) and,
in a report with a robustness section, from the corrupted test split (`robust_figures`).
A figure is redrawn when its source differs from the one recorded in the previous
results.json, or its file is missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from mnistlab import visualize
from mnistlab.data.splits import Dataset
from mnistlab.report.robust_figures import robustness_specs
from mnistlab.report.robust_rows import CorruptedTest
from mnistlab.report.run_figures import FIGURES_DIR, FigureSpec, run_specs, steps_spec

DIGITS_SEED = 0  # seeds the choice of Figure 1's images
DIGITS_SHOWN = 16
MATRIX_LABEL = 1  # Figure 2 of the paper shows a "1"


def figure_specs(
    out_dir: Path, data: Dataset, rows: Sequence[dict[str, Any]], corrupted: CorruptedTest
) -> list[FigureSpec]:
    """Every figure that the finished runs so far allow, in page order."""
    train = data.train
    shown = torch.randperm(len(train), generator=torch.Generator().manual_seed(DIGITS_SEED))[:DIGITS_SHOWN]
    matrix_index = int(torch.nonzero(train.labels == MATRIX_LABEL)[0])
    class_name = data.classes[MATRIX_LABEL]
    label_text = f"label {MATRIX_LABEL}" + ("" if class_name == str(MATRIX_LABEL) else f", {class_name}")
    title = data.record()["title"]
    specs = [
        FigureSpec(
            f"{FIGURES_DIR}/fig1-digits.png",
            f"Figure 1: {title} images",
            f"{DIGITS_SHOWN} random images of the training split (seed {DIGITS_SEED}), each titled with its "
            "label (its class name where the classes are not the digits).",
            f"data:{data.name}:{len(train)}",
            lambda: visualize.digit_grid(
                train.images[shown], train.labels[shown], title=f"{title} images", classes=data.classes
            ),
        ),
        FigureSpec(
            f"{FIGURES_DIR}/fig2-matrix.png",
            "Figure 2: a digit as a matrix of numbers",
            f"Training image #{matrix_index} ({label_text}): each pixel's intensity, 0 (paper) to 1 (ink).",
            f"data:{data.name}:{len(train)}",
            lambda: visualize.digit_matrix(
                train.images[matrix_index], MATRIX_LABEL, title=f"{label_text}: a 28x28 matrix of intensities"
            ),
        ),
    ]
    specs += run_specs(out_dir, data, rows)
    steps = steps_spec(out_dir, rows)
    if steps is not None:
        specs.append(steps)
    specs += robustness_specs(out_dir, data, rows, corrupted)
    return specs


def draw_figures(
    out_dir: Path,
    data: Dataset,
    rows: Sequence[dict[str, Any]],
    drawn: dict[str, str],
    corrupted: CorruptedTest,
) -> list[dict[str, str]]:
    """Draw the figures whose source changed since `drawn` (updated in place); returns their entries."""
    entries = []
    for spec in figure_specs(out_dir, data, rows, corrupted):
        if drawn.get(spec.file) != spec.source or not (out_dir / spec.file).is_file():
            visualize.save_figure(spec.draw(), out_dir / spec.file)
            drawn[spec.file] = spec.source
        entries.append(
            {"file": spec.file, "title": spec.title, "caption": spec.caption, "source": spec.source}
        )
    return entries
