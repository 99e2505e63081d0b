"""Which figure of the report comes from which run, and drawing each one only when its source changes.

Figures 1 and 2 come from the data. Figure 3 comes from the first softmax row (1,000 steps,
the tutorial's own model), the filters from the paper CNN, the confusion matrix and the
misclassified gallery from the last finished paper row (the CNN once it is done); each from
the lowest finished seed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch
from matplotlib.figure import Figure

from mnistlab import checkpoint as ckpt
from mnistlab import visualize
from mnistlab.data.splits import Dataset
from mnistlab.evaluation import predict_logits

FIGURES_DIR = "figures"
DIGITS_SEED = 0
DIGITS_SHOWN = 16
MATRIX_LABEL = 1  # Figure 2 of the paper shows a "1"


@dataclass(frozen=True)
class FigureSpec:
    file: str  # relative to the report folder
    title: str
    caption: str
    source: str  # what it was drawn from; a change means a redraw
    draw: Callable[[], Figure]


def read_metrics(run_dir: Path | str) -> list[dict[str, Any]]:
    """A run's metrics.jsonl records, oldest first."""
    path = Path(run_dir) / ckpt.METRICS_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _first_finished(row: dict[str, Any]) -> dict[str, Any] | None:
    return next((run for run in row["runs"] if run["status"] == "finished"), None)


def _featured(
    rows: Sequence[dict[str, Any]], model: str | None = None, *, last: bool = False
) -> tuple[dict, dict] | None:
    """The first (or last) paper row, then beyond-paper row, of `model` with a finished run, and that run."""
    for beyond in (False, True):
        for row in reversed(rows) if last else rows:
            run = _first_finished(row)
            if run is not None and row["beyond_paper"] == beyond and model in (None, row["model"]):
                return row, run
    return None


def _source(out_dir: Path, run: dict[str, Any]) -> str:
    results = out_dir / run["run_dir"] / ckpt.RESULTS_FILE
    return f"{run['run_dir']}@{results.stat().st_mtime_ns}"


def _run_name(row: dict[str, Any], run: dict[str, Any]) -> str:
    reduced = f", reduced to {run['steps']:,} steps" if run["steps"] != row["paper_steps"] else ""
    return f"{row['title']}{reduced}, seed {run['seed']}, test {100 * run['test_accuracy']:.2f} %"


def figure_specs(out_dir: Path, data: Dataset, rows: Sequence[dict[str, Any]]) -> list[FigureSpec]:
    """Every figure that the finished runs so far allow, in page order."""
    train = data.train
    shown = torch.randperm(len(train), generator=torch.Generator().manual_seed(DIGITS_SEED))[:DIGITS_SHOWN]
    matrix_index = int(torch.nonzero(train.labels == MATRIX_LABEL)[0])
    specs = [
        FigureSpec(
            f"{FIGURES_DIR}/fig1-digits.png",
            "Figure 1: MNIST digits",
            f"{DIGITS_SHOWN} random digits of the training split (seed {DIGITS_SEED}), each titled with its label.",
            f"data:{data.name}:{len(train)}",
            lambda: visualize.digit_grid(train.images[shown], train.labels[shown]),
        ),
        FigureSpec(
            f"{FIGURES_DIR}/fig2-matrix.png",
            "Figure 2: a digit as a matrix of numbers",
            f"Training image #{matrix_index} (label {MATRIX_LABEL}): each pixel's intensity, 0 (paper) to 1 (ink).",
            f"data:{data.name}:{len(train)}",
            lambda: visualize.digit_matrix(train.images[matrix_index], MATRIX_LABEL),
        ),
    ]
    specs += _run_specs(out_dir, data, rows)
    return specs


def _run_specs(out_dir: Path, data: Dataset, rows: Sequence[dict[str, Any]]) -> list[FigureSpec]:
    specs = []
    for model, file, title, what in (
        ("softmax", "fig3-softmax-weights.png", "Figure 3: softmax weights", "The weights of each class"),
        ("cnn", "cnn-filters.png", "The CNN's first-layer filters", "The 32 first-layer 5x5 filters"),
    ):
        featured = _featured(rows, model)
        if featured is not None:
            row, run = featured
            run_dir = out_dir / run["run_dir"]
            specs.append(
                FigureSpec(
                    f"{FIGURES_DIR}/{file}",
                    title,
                    f"{what}; red is positive, blue negative, on one scale symmetric around zero. "
                    f"From {_run_name(row, run)}.",
                    _source(out_dir, run),
                    partial(_weights, run_dir, data.classes),
                )
            )
    for row in rows:
        run = _first_finished(row)
        if run is not None:
            run_dir = out_dir / run["run_dir"]
            curves_title = _run_name(row, run)
            specs.append(
                FigureSpec(
                    f"{FIGURES_DIR}/curves-{row['key']}.png",
                    f"Training curves: {row['title']}",
                    f"Loss of each logged batch and validation accuracy against step; {_run_name(row, run)}.",
                    _source(out_dir, run),
                    partial(_curves, run_dir, curves_title),
                )
            )
    featured = _featured(rows, last=True)
    if featured is not None:
        row, run = featured
        run_dir = out_dir / run["run_dir"]
        confusion = ckpt.read_results(run_dir)["test"]["confusion"]
        specs += [
            FigureSpec(
                f"{FIGURES_DIR}/confusion.png",
                "Confusion matrix",
                f"Rows: true class, columns: predicted class, on the test set. From {_run_name(row, run)}.",
                _source(out_dir, run),
                lambda: visualize.confusion_figure(confusion, data.classes),
            ),
            FigureSpec(
                f"{FIGURES_DIR}/misclassified.png",
                "Most confidently misclassified test digits",
                f"True label, predicted label and the model's probability for it. From {_run_name(row, run)}.",
                _source(out_dir, run),
                partial(_gallery, run_dir, data),
            ),
        ]
    return specs


def _weights(run_dir: Path, classes: Sequence[str]) -> Figure:
    return visualize.weights_figure(ckpt.load_model(run_dir)[0], classes)


def _curves(run_dir: Path, title: str) -> Figure:
    return visualize.training_curves(read_metrics(run_dir), title=title)


def _gallery(run_dir: Path, data: Dataset) -> Figure:
    model, _ = ckpt.load_model(run_dir)
    logits = predict_logits(model, data.test.images)
    return visualize.misclassified_gallery(data.test.images, data.test.labels, logits)


def draw_figures(
    out_dir: Path, data: Dataset, rows: Sequence[dict[str, Any]], drawn: dict[str, str]
) -> list[dict[str, str]]:
    """Draw the figures whose source changed since `drawn` (updated in place); returns their entries."""
    entries = []
    for spec in figure_specs(out_dir, data, rows):
        if drawn.get(spec.file) != spec.source or not (out_dir / spec.file).is_file():
            visualize.save_figure(spec.draw(), out_dir / spec.file)
            drawn[spec.file] = spec.source
        entries.append(
            {"file": spec.file, "title": spec.title, "caption": spec.caption, "source": spec.source}
        )
    return entries
