"""The runs of a reproduction: one folder per (experiment, seed), and whether it has finished.

A finished run (it has results.json) is reused, an interrupted one resumes from its
checkpoint, and a folder holding a run of another config is refused.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mnistlab.config import TrainConfig
from mnistlab.errors import UsageError
from mnistlab.reproduce.experiments import Experiment
from mnistlab.runs import checkpoint as ckpt


@dataclass(frozen=True)
class Job:
    """One training run of the reproduction."""

    experiment: Experiment
    seed: int
    config: TrainConfig
    run_dir: Path


def plan(
    experiments: Sequence[Experiment],
    seeds: Sequence[int],
    out_dir: Path | str,
    *,
    quick: bool = False,
    only: Collection[str] | None = None,
) -> list[Job]:
    """Every (experiment, seed) run, experiments in order; a --quick run that is reduced gets its own folder.

    `only` keeps the experiments with those keys; the others are reported as not run.
    """
    keys = [e.key for e in experiments]
    unknown = sorted(set(only or ()) - set(keys))
    if unknown:
        raise UsageError(f"Unknown experiment(s) {', '.join(unknown)}; known: {', '.join(keys)}.")
    jobs = []
    for experiment in experiments:
        if (quick and experiment.quick_steps is None) or (only and experiment.key not in only):
            continue
        for seed in seeds:
            config = experiment.config(seed, quick=quick)
            reduced = config != experiment.config(seed)
            name = f"{experiment.key}-quick-s{seed}" if reduced else f"{experiment.key}-s{seed}"
            jobs.append(Job(experiment, seed, config, Path(out_dir) / "runs" / name))
    return jobs


def finished_results(job: Job) -> dict[str, Any] | None:
    """The job's results.json if it finished; raises if its folder holds a different run."""
    if not (job.run_dir / ckpt.CONFIG_FILE).is_file():
        return None
    saved, _ = ckpt.read_run_config(job.run_dir)
    if saved != job.config:
        raise UsageError(
            f"{job.run_dir} holds a run with another config than {job.experiment.key!r} seed {job.seed} "
            "needs; delete that folder or pass another --out."
        )
    results = ckpt.read_results(job.run_dir)
    return None if results is None or results.get("interrupted") else results
