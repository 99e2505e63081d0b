"""Which figure of the report comes from which run, and drawing each one only when its source changes.

Figures 1 and 2 come from the data. Figure 3 comes from the first softmax row (1,000 steps,
the tutorial's own model), the filters from the paper CNN, the confusion matrix and the
misclassified gallery from the last finished paper row (the CNN once it is done); each from
the lowest finished seed. The accuracy-against-steps figure pools all finished seeds of the
rows in STEPS_ROWS.
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

from mnistlab import visualize
from mnistlab.data.splits import Dataset
from mnistlab.evaluation.metrics import predict_logits
from mnistlab.report.robust_rows import CorruptedTest
from mnistlab.runs import checkpoint as ckpt

FIGURES_DIR = "figures"
DIGITS_SEED = 0
DIGITS_SHOWN = 16
MATRIX_LABEL = 1  # Figure 2 of the paper shows a "1"
# The rows whose test milestones show accuracy against steps: one long softmax run and the
# paper CNN, each evaluated on test at milestone steps inside every seed's run.
STEPS_ROWS = {"softmax": "softmax-30k", "cnn": "cnn"}


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
    specs += _run_specs(out_dir, data, rows)
    steps = _steps_spec(out_dir, rows)
    if steps is not None:
        specs.append(steps)
    specs += _robustness_specs(out_dir, data, rows, corrupted)
    return specs


# The model whose mistakes under corruption are shown: the recipe made for handwriting if it ran.
MISTAKES_ROW = "cnn-robust"
SAMPLES_SHOWN = 4


def _robustness_specs(
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
    run = _first_finished(featured)
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
            f"highest probability on its answer. From {_run_name(featured, run)}.",
            _source(out_dir, run) + f":corrupted{severity}",
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


def _steps_spec(out_dir: Path, rows: Sequence[dict[str, Any]]) -> FigureSpec | None:
    """Test accuracy against steps over seeds, if some STEPS_ROWS row has two or more milestones."""
    by_key = {row["key"]: row for row in rows}
    panels, sources, described = [], [], []
    for task, key in STEPS_ROWS.items():
        row = by_key.get(key)
        if row is None or len(row["test_milestones"]) < 2:
            continue
        points = row["test_milestones"]
        finished = [run for run in row["runs"] if run["status"] == "finished"]
        sources += [_source(out_dir, run) for run in finished]
        seeds = ", ".join(str(run["seed"]) for run in finished)
        at = ", ".join(f"{p['step']:,}" for p in points)
        described.append(f"{row['title']}: steps {at}, seeds {seeds}")
        paper = sorted(
            (r["paper_steps"], r["paper_accuracy"])
            for r in rows
            if r["task"] == task and r["paper_accuracy"] is not None and not r["beyond_paper"]
        )
        series = {
            "label": f"{row['title'].split(',')[0]} (mean ± std, {len(finished)} seeds)",
            "steps": [p["step"] for p in points],
            "mean": [p["mean_test_accuracy"] for p in points],
            "std": [p["std_test_accuracy"] for p in points],
        }
        panels.append({"title": row["title"].split(",")[0], "series": [series], "paper": paper})
    if not panels:
        return None
    return FigureSpec(
        f"{FIGURES_DIR}/accuracy-vs-steps.png",
        "Test accuracy against training steps",
        "Test-set accuracy at milestone steps inside each seed's run (test evaluations that select "
        "nothing: no step, weight or setting is chosen by them); points are the mean over seeds, bars "
        "± one sample standard deviation; stars are the paper's numbers. " + "; ".join(described) + ".",
        "steps:" + ",".join(sources),
        partial(visualize.accuracy_against_steps, panels),
    )


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
    return visualize.misclassified_gallery(data.test.images, data.test.labels, logits, classes=data.classes)


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
