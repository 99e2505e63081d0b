"""results.json of a reproduction, assembled from the run folders, and the writer that keeps it current.

Each row's numbers are read from its runs' own results.json files; the mean and the sample
standard deviation are computed here, over the seeds that have finished so far.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mnistlab import checkpoint as ckpt
from mnistlab.data.splits import Dataset
from mnistlab.report.experiments import PAPER_SEEDS, Experiment
from mnistlab.report.figures import draw_figures
from mnistlab.report.html import write_report
from mnistlab.report.plan import Job, finished_results

FORMAT = "mnistlab-reproduce/1"


class ReportWriter:
    """Rebuilds results.json, results.md, index.html and the figures from the run folders."""

    def __init__(
        self,
        out_dir: Path,
        data: Dataset,
        experiments: Sequence[Experiment],
        jobs: Sequence[Job],
        *,
        quick: bool,
        runtime: dict[str, Any],
    ) -> None:
        self.out_dir, self.data, self.jobs, self.quick, self.runtime = out_dir, data, jobs, quick, runtime
        planned = {job.experiment.key for job in jobs}
        self.experiments = [e for e in experiments if e.key in planned]
        self.omitted = [e for e in experiments if e.key not in planned]
        self.seeds = sorted({job.seed for job in jobs})
        self.started = time.time()
        self.drawn = _previous_figure_sources(out_dir)

    def update(self, running: Job | None) -> dict[str, Any]:
        rows = [
            experiment_summary(e, [j for j in self.jobs if j.experiment.key == e.key], self.out_dir, running)
            for e in self.experiments
        ]
        full_steps = sum(e.config(0).steps for e in (*self.experiments, *self.omitted)) * len(PAPER_SEEDS)
        results = {
            "format": FORMAT,
            "updated": now_utc(),
            "complete": all(run["status"] == "finished" for row in rows for run in row["runs"]),
            "quick": self.quick,
            "seeds": self.seeds,
            "paper_seeds": list(PAPER_SEEDS),
            "steps_run": sum(job.config.steps for job in self.jobs),
            "steps_full": full_steps,
            "omitted": [e.title for e in self.omitted],
            "experiments": rows,
            "figures": draw_figures(self.out_dir, self.data, rows, self.drawn),
            "environment": self.runtime,
            "wall_seconds_this_invocation": time.time() - self.started,
        }
        write_report(self.out_dir, results)
        return results


def _previous_figure_sources(out_dir: Path) -> dict[str, str]:
    """Figures a previous invocation drew, by file, so a rerun redraws only what changed."""
    try:
        previous = json.loads((out_dir / "results.json").read_text(encoding="utf-8"))
        return {f["file"]: f["source"] for f in previous.get("figures", [])}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def run_summary(job: Job, out_dir: Path, running: Job | None) -> dict[str, Any]:
    """One seed's cell of the table, read from its run directory."""
    results = finished_results(job)
    row: dict[str, Any] = {
        "seed": job.seed,
        "run_dir": job.run_dir.relative_to(out_dir).as_posix(),
        "steps": job.config.steps,
    }
    if results is not None:
        return {
            **row,
            "status": "finished",
            "test_accuracy": results["test_accuracy"],
            "val_accuracy": results["val_accuracy"],
            "train_seconds": results["train_seconds"],
            "test_errors": results["test"]["errors"],
        }
    step = (
        ckpt.read_json(job.run_dir / ckpt.STATE_FILE, "state")["step"]
        if ckpt.has_checkpoint(job.run_dir)
        else 0
    )
    status = "running" if running == job else "partial" if step else "pending"
    return {**row, "status": status, "step": step}


def experiment_summary(
    experiment: Experiment, jobs: Sequence[Job], out_dir: Path, running: Job | None
) -> dict:
    """A row of the table: each seed's numbers, then their mean and sample standard deviation."""
    runs = [run_summary(job, out_dir, running) for job in jobs]
    accuracies = [r["test_accuracy"] for r in runs if r["status"] == "finished"]
    return {
        "key": experiment.key,
        "title": experiment.title,
        "task": experiment.task,
        "recipe": experiment.recipe,
        "model": jobs[0].config.model,
        "beyond_paper": experiment.beyond_paper,
        "paper_accuracy": experiment.paper_accuracy,
        "paper_steps": experiment.config(jobs[0].seed).steps,
        "steps": jobs[0].config.steps,
        "runs": runs,
        "finished": len(accuracies),
        "mean_test_accuracy": statistics.fmean(accuracies) if accuracies else None,
        "std_test_accuracy": statistics.stdev(accuracies) if len(accuracies) > 1 else None,
    }


def now_utc() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
