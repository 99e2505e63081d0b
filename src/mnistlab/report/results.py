"""results.json of a reproduction, assembled from the run folders, and the writer that keeps it current.

Each row's numbers are read from its runs' own results.json files; the statistics over the
seeds that have finished so far are computed in `rows`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mnistlab.data.splits import Dataset
from mnistlab.report.environment import Machines
from mnistlab.report.figures import draw_figures
from mnistlab.report.html import write_report
from mnistlab.report.reader_rows import OutlierSets, add_reader
from mnistlab.report.robust_rows import CorruptedTest, add_robustness
from mnistlab.report.rows import add_never_firing, compare_with_baselines, experiment_summary
from mnistlab.reproduce.experiments import PAPER_SEEDS, Experiment
from mnistlab.reproduce.plan import Job

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
        other: Dataset | None = None,
    ) -> None:
        self.out_dir, self.data, self.jobs, self.quick, self.runtime = out_dir, data, jobs, quick, runtime
        planned = {job.experiment.key for job in jobs}
        self.experiments = [e for e in experiments if e.key in planned]
        self.omitted = [e for e in experiments if e.key not in planned]
        self.seeds = sorted({job.seed for job in jobs})
        self.started = time.time()
        self.drawn = _previous_figure_sources(out_dir)
        self.corrupted_test = CorruptedTest(data.test)
        self.outlier_sets = OutlierSets(data, other)  # `other`: the other dataset, an outlier set

    def update(self, running: Job | None) -> dict[str, Any]:
        machines = Machines()
        rows = [
            experiment_summary(
                e, [j for j in self.jobs if j.experiment.key == e.key], self.out_dir, running, machines
            )
            for e in self.experiments
        ]
        compare_with_baselines(rows)
        add_never_firing(rows, self.experiments, self.out_dir, self.data.val.images)
        # A first look stays quick (corrupting the test split alone takes ~10 s); the corruptions
        # model pen and paper, so they say little about datasets that are not digits.
        dataset = self.data.record()
        if not self.quick and dataset["image_kind"] == "digits":
            add_robustness(rows, self.out_dir, self.corrupted_test)
        # Calibration and abstention on the test split for every report; the outlier sets (20,000
        # more images through each model) only in a full one.
        add_reader(rows, self.out_dir, self.data, None if self.quick else self.outlier_sets)
        full_steps = sum(e.config(0).steps for e in (*self.experiments, *self.omitted)) * len(PAPER_SEEDS)
        results = {
            "format": FORMAT,
            "updated": now_utc(),
            "complete": all(run["status"] == "finished" for row in rows for run in row["runs"]),
            "quick": self.quick,
            "dataset": dataset,
            "seeds": self.seeds,
            "paper_seeds": list(PAPER_SEEDS),
            "steps_run": sum(job.config.steps for job in self.jobs),
            "steps_full": full_steps,
            "omitted": [e.title for e in self.omitted],
            "experiments": rows,
            "machines": machines.described,
            "figures": draw_figures(self.out_dir, self.data, rows, self.drawn, self.corrupted_test),
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


def now_utc() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
