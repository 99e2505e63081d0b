"""The rows of results.json: each seed's numbers and environment, and the statistics over seeds.

Per row: mean, sample standard deviation, min–max, the 95 % Student-t interval for the mean
over seeds and, for a paper row, where the paper's number lies against that interval. Per
ablation: the difference to its baseline row with a Welch t interval. Per run: its machine
(labelled by `Machines`), threads and load, and its test milestones.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from mnistlab.data.splits import normalize
from mnistlab.evaluation.units import PAPER_CNN_RELU_INPUTS, never_firing
from mnistlab.fileio import atomic_write_json
from mnistlab.report.environment import Machines, run_environment
from mnistlab.report.stats import compare_with_paper, mean_interval, welch_difference
from mnistlab.reproduce.claims import holder
from mnistlab.reproduce.experiments import Experiment
from mnistlab.reproduce.plan import Job, finished_results
from mnistlab.runs import checkpoint as ckpt

ANALYSIS_DIR = "analysis"  # the report's cache of numbers computed from runs' weights
DIFFERENCE_METHOD = "Welch t (unequal variances, Welch–Satterthwaite degrees of freedom)"


def run_summary(job: Job, out_dir: Path, running: Job | None, machines: Machines) -> dict[str, Any]:
    """One seed's cell of the table, read from its run directory."""
    results = finished_results(job)
    row: dict[str, Any] = {
        "seed": job.seed,
        "run_dir": job.run_dir.relative_to(out_dir).as_posix(),
        "steps": job.config.steps,
    }
    if results is not None:
        environment = run_environment(results)
        return {
            **row,
            "status": "finished",
            "test_accuracy": results["test_accuracy"],
            "val_accuracy": results["val_accuracy"],
            "train_seconds": results["train_seconds"],
            "test_errors": results["test"]["errors"],
            "test_milestones": results.get("test_milestones", []),
            "environment": {**environment, "machine": machines.label(environment)},
        }
    step = (
        ckpt.read_json(job.run_dir / ckpt.STATE_FILE, "state")["step"]
        if ckpt.has_checkpoint(job.run_dir)
        else 0
    )
    claimed_by = holder(job.run_dir) if job.run_dir.is_dir() else None
    status = "running" if running == job or claimed_by else "partial" if step else "pending"
    return {**row, "status": status, "step": step, "claimed_by": claimed_by}


def _milestones(runs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and sample std over seeds of the test accuracy at each milestone step."""
    by_step: dict[int, list[float]] = {}
    for run in runs:
        for point in run.get("test_milestones", []):
            by_step.setdefault(int(point["step"]), []).append(point["test_accuracy"])
    return [
        {
            "step": step,
            "seeds": len(values),
            "mean_test_accuracy": statistics.fmean(values),
            "std_test_accuracy": statistics.stdev(values) if len(values) > 1 else None,
        }
        for step, values in sorted(by_step.items())
    ]


def experiment_summary(
    experiment: Experiment, jobs: Sequence[Job], out_dir: Path, running: Job | None, machines: Machines
) -> dict[str, Any]:
    """A row of the table: each seed's numbers, then the statistics over the finished seeds."""
    runs = [run_summary(job, out_dir, running, machines) for job in jobs]
    finished = [r for r in runs if r["status"] == "finished"]
    accuracies = [r["test_accuracy"] for r in finished]
    mean = statistics.fmean(accuracies) if accuracies else None
    interval = mean_interval(accuracies)
    verdict, sentence = (
        compare_with_paper(experiment.paper_accuracy, mean, interval, len(accuracies))
        if experiment.paper_accuracy is not None and not experiment.beyond_paper
        else (None, None)
    )
    row_machines = sorted({r["environment"]["machine"] for r in finished})
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
        "mean_test_accuracy": mean,
        "std_test_accuracy": statistics.stdev(accuracies) if len(accuracies) > 1 else None,
        "min_test_accuracy": min(accuracies) if accuracies else None,
        "max_test_accuracy": max(accuracies) if accuracies else None,
        "interval95": interval.to_dict() if interval is not None else None,
        "paper_verdict": verdict,
        "paper_sentence": sentence,
        "machines": row_machines,
        "pooled_across_machines": len(row_machines) > 1,
        "test_milestones": _milestones(finished),
        "baseline": experiment.baseline,
        "change": experiment.change,
        "overrides": json.loads(json.dumps(dict(experiment.overrides))),
        "reference": dataclasses.asdict(experiment.reference) if experiment.reference else None,
    }


def compare_with_baselines(rows: Sequence[dict[str, Any]]) -> None:
    """Give each ablation row its difference to its baseline row (in place): Welch's 95 % interval."""
    by_key = {row["key"]: row for row in rows}
    for row in rows:
        if row["baseline"] is None:
            continue
        base = by_key.get(row["baseline"])
        ours = [r["test_accuracy"] for r in row["runs"] if r["status"] == "finished"]
        theirs = [r["test_accuracy"] for r in base["runs"] if r["status"] == "finished"] if base else []
        interval = welch_difference(ours, theirs)
        row["difference"] = {
            "baseline": row["baseline"],
            "baseline_planned": base is not None,
            "difference": statistics.fmean(ours) - statistics.fmean(theirs) if ours and theirs else None,
            "interval95": interval.to_dict() if interval is not None else None,
            "method": DIFFERENCE_METHOD,
        }


def results_digest(run_dir: Path) -> str:
    """A short hash of a run's results.json: the key of numbers the report caches from its weights."""
    return hashlib.sha256((run_dir / ckpt.RESULTS_FILE).read_bytes()).hexdigest()[:16]


def cached(cache: Path, source: str, key: str = "result") -> Any | None:
    """The value under `key` of a cache file written as {"source": ..., key: ...} for `source`,
    or None when the file is absent, unreadable or was written for another source."""
    try:
        stored = json.loads(cache.read_text(encoding="utf-8"))
        return stored[key] if stored["source"] == source else None
    except (OSError, ValueError, KeyError):
        return None


def _never_firing_of_run(out_dir: Path, run: dict[str, Any], images: torch.Tensor) -> dict[str, Any]:
    """The run's never-firing counts on uint8 `images` from its final weights, cached under ANALYSIS_DIR."""
    run_dir = out_dir / run["run_dir"]
    source = f"{results_digest(run_dir)}:{len(images)}"
    cache = out_dir / ANALYSIS_DIR / f"never-firing-{run_dir.name}.json"
    counts = cached(cache, source, "counts")
    if counts is not None:
        return counts
    model, _ = ckpt.load_model(run_dir)
    counts = never_firing(model, normalize(images), PAPER_CNN_RELU_INPUTS)
    atomic_write_json(cache, {"source": source, "counts": counts})
    return counts


def add_never_firing(rows: Sequence[dict[str, Any]], experiments: Sequence[Experiment], out_dir: Path,
                     images: torch.Tensor) -> None:  # fmt: skip
    """Never-firing ReLU units on the validation images, for rows marked `dead_units` and their baselines."""
    wanted = {e.key for e in experiments if e.dead_units} | {e.baseline for e in experiments if e.dead_units}
    for row in rows:
        if row["key"] not in wanted:
            continue
        finished = [run for run in row["runs"] if run["status"] == "finished"]
        for run in finished:
            run["never_firing"] = _never_firing_of_run(out_dir, run, images)
        layers = finished[0]["never_firing"] if finished else {}
        row["never_firing"] = {
            layer: {
                name: statistics.fmean(run["never_firing"][layer][name] for run in finished)
                for name in ("fraction", "never_fire", "channels_never_fire")
                if name in counts
            }
            | {"units": counts["units"], **({"channels": counts["channels"]} if "channels" in counts else {})}
            for layer, counts in layers.items()
        }
