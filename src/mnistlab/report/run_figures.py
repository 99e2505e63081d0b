"""What a figure of the report is, and the figures drawn from the finished runs' files.

A figure is a `FigureSpec`: its file, title and caption, the source it was drawn from (a run's
folder and the time its results.json was written: a change means a redraw) and how to draw
it. From the runs: the softmax weights (the first softmax row, 1,000 steps, the tutorial's own
model), the paper CNN's filters, every row's training curves, the confusion matrix and the
misclassified gallery of the last finished paper row (the CNN once it is done), each from the
lowest finished seed; and the accuracy-against-steps figure, which pools all finished seeds
of the rows in STEPS_ROWS.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from mnistlab import visualize
from mnistlab.data.splits import Dataset
from mnistlab.reader.prediction import predict_logits
from mnistlab.runs import checkpoint as ckpt

FIGURES_DIR = "figures"  # under the report folder

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


def first_finished(row: dict[str, Any]) -> dict[str, Any] | None:
    return next((run for run in row["runs"] if run["status"] == "finished"), None)


def _featured(
    rows: Sequence[dict[str, Any]], model: str | None = None, *, last: bool = False
) -> tuple[dict, dict] | None:
    """The first (or last) paper row, then beyond-paper row, of `model` with a finished run, and that run."""
    for beyond in (False, True):
        for row in reversed(rows) if last else rows:
            run = first_finished(row)
            if run is not None and row["beyond_paper"] == beyond and model in (None, row["model"]):
                return row, run
    return None


def run_source(out_dir: Path, run: dict[str, Any]) -> str:
    results = out_dir / run["run_dir"] / ckpt.RESULTS_FILE
    return f"{run['run_dir']}@{results.stat().st_mtime_ns}"


def run_name(row: dict[str, Any], run: dict[str, Any]) -> str:
    reduced = f", reduced to {run['steps']:,} steps" if run["steps"] != row["paper_steps"] else ""
    return f"{row['title']}{reduced}, seed {run['seed']}, test {100 * run['test_accuracy']:.2f} %"


def run_specs(out_dir: Path, data: Dataset, rows: Sequence[dict[str, Any]]) -> list[FigureSpec]:
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
                    f"From {run_name(row, run)}.",
                    run_source(out_dir, run),
                    partial(_weights, run_dir, data.classes),
                )
            )
    for row in rows:
        run = first_finished(row)
        if run is not None:
            run_dir = out_dir / run["run_dir"]
            curves_title = run_name(row, run)
            specs.append(
                FigureSpec(
                    f"{FIGURES_DIR}/curves-{row['key']}.png",
                    f"Training curves: {row['title']}",
                    f"Loss of each logged batch and validation accuracy against step; {run_name(row, run)}.",
                    run_source(out_dir, run),
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
                f"Rows: true class, columns: predicted class, on the test set. From {run_name(row, run)}.",
                run_source(out_dir, run),
                lambda: visualize.confusion_figure(confusion, data.classes),
            ),
            FigureSpec(
                f"{FIGURES_DIR}/misclassified.png",
                "Most confidently misclassified test digits",
                f"True label, predicted label and the model's probability for it. From {run_name(row, run)}.",
                run_source(out_dir, run),
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


def steps_spec(out_dir: Path, rows: Sequence[dict[str, Any]]) -> FigureSpec | None:
    """Test accuracy against steps over seeds, if some STEPS_ROWS row has two or more milestones."""
    by_key = {row["key"]: row for row in rows}
    panels, sources, described = [], [], []
    for task, key in STEPS_ROWS.items():
        row = by_key.get(key)
        if row is None or len(row["test_milestones"]) < 2:
            continue
        points = row["test_milestones"]
        finished = [run for run in row["runs"] if run["status"] == "finished"]
        sources += [run_source(out_dir, run) for run in finished]
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
