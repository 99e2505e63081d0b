"""`mnistlab reproduce`: the paper's experiments over several seeds, and a live report of them.

Each (experiment, seed) is a run directory DIR/runs/<key>-s<seed> trained by
`mnistlab.training.train`: a finished one (it has results.json) is reused, an interrupted
one resumes from its checkpoint. After every run the report (results.json, results.md,
index.html and figures/) is rebuilt from the runs' own results.json files, so no number on
the page is typed by hand, and the softmax rows appear while the CNN is still training.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from mnistlab import checkpoint as ckpt
from mnistlab.config import RECIPES, TrainConfig, resolve_config
from mnistlab.data.splits import Dataset
from mnistlab.errors import UsageError
from mnistlab.training import Report, train

FORMAT = "mnistlab-reproduce/1"
PAPER_SEEDS = (0, 1, 2)
QUICK_SEEDS = (0,)
# Seconds per optimisation step before a run has measured its own (2 CPU cores, paper batch sizes).
PRIOR_SECONDS_PER_STEP = {"softmax": 0.003, "cnn": 0.2}


@dataclass(frozen=True)
class Experiment:
    """One row of the results table: a recipe, its paper number and its reduced --quick size."""

    key: str  # names the run folders and the row in results.json
    title: str
    task: str
    recipe: str = "paper"
    overrides: Mapping[str, Any] = field(default_factory=dict)
    paper_accuracy: float | None = None  # a fraction; None for rows beyond the paper
    quick_steps: int | None = None  # steps under --quick; None leaves the row out of --quick
    beyond_paper: bool = False

    def config(self, seed: int, *, quick: bool = False) -> TrainConfig:
        """The run's config; under --quick fewer steps, with validation still twice per run."""
        full = resolve_config(self.task, self.recipe, overrides={**self.overrides, "seed": seed})
        if not quick or self.quick_steps is None or self.quick_steps == full.steps:
            return full
        steps = self.quick_steps
        reduced = {
            "steps": steps,
            "eval_every": min(full.eval_every, max(1, steps // 2)),
            "log_every": min(full.log_every, max(1, steps // 20)),
        }
        return resolve_config(self.task, self.recipe, overrides={**self.overrides, "seed": seed, **reduced})


# The paper's numbers: "MNIST for ML Beginners" (softmax) and "Deep MNIST for Experts" (CNN).
PAPER_EXPERIMENTS: tuple[Experiment, ...] = (
    Experiment("softmax-1k", "Softmax regression, 1,000 steps", "softmax", overrides={"steps": 1000},
               paper_accuracy=0.9186, quick_steps=1000),
    Experiment("softmax-10k", "Softmax regression, 10,000 steps", "softmax", overrides={"steps": 10_000},
               paper_accuracy=0.9223, quick_steps=2000),
    Experiment("cnn", "Deep CNN, 20,000 steps", "cnn", paper_accuracy=0.9927, quick_steps=400),
)  # fmt: skip


def available_experiments(*, best: bool = False) -> tuple[Experiment, ...]:
    """The paper's rows, then the beyond-the-paper recipes that exist in this install."""
    rows = list(PAPER_EXPERIMENTS)
    if ("cnn", "fast") in RECIPES:
        rows.append(Experiment("cnn-fast", "Fast CNN recipe", "cnn", "fast", beyond_paper=True))
    if best:
        if ("cnn", "best") not in RECIPES:
            raise UsageError("--best needs the 'best' CNN recipe, which this install does not have.")
        rows.append(Experiment("cnn-best", "Best CNN recipe", "cnn", "best", beyond_paper=True))
    return tuple(rows)


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


@dataclass(frozen=True)
class Progress:
    """Where the reproduction is: job `job` of `jobs`, its step, and the time left for all jobs."""

    job: int  # 1-based
    jobs: int
    title: str
    seed: int
    step: int
    steps: int
    state: str  # "training", "reused", "finished" or "interrupted"
    eta_seconds: float
    report: Report | None = None
    test_accuracy: float | None = None
    train_seconds: float | None = None


class _Eta:
    """Time left: each job's remaining steps times its model's seconds per step, measured when possible."""

    def __init__(self, jobs: Sequence[Job]) -> None:
        self.jobs = jobs
        self.left = [job.config.steps for job in jobs]
        self.rate: dict[tuple[str, int], float] = {}

    def _key(self, job: Job) -> tuple[str, int]:
        return job.config.model, job.config.batch_size

    def observe(self, index: int, step: int, seconds_per_step: float | None) -> None:
        self.left[index] = self.jobs[index].config.steps - step
        if seconds_per_step is not None and math.isfinite(seconds_per_step) and seconds_per_step > 0:
            self.rate[self._key(self.jobs[index])] = seconds_per_step

    def seconds(self) -> float:
        default = max(PRIOR_SECONDS_PER_STEP.values())
        return sum(
            left * self.rate.get(self._key(job), PRIOR_SECONDS_PER_STEP.get(job.config.model, default))
            for job, left in zip(self.jobs, self.left, strict=True)
        )


def reproduce(
    data: Dataset,
    out_dir: Path | str,
    *,
    experiments: Sequence[Experiment] = PAPER_EXPERIMENTS,
    seeds: Sequence[int] = PAPER_SEEDS,
    quick: bool = False,
    only: Collection[str] | None = None,
    runtime: Mapping[str, Any] | None = None,
    device: str = "cpu",
    on_progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    processes: int = 1,
    threads: int | None = None,
) -> dict[str, Any]:
    """Run (or reuse, or resume) every (experiment, seed), rewriting the report in `out_dir` after each.

    `processes > 1` trains that many runs at once in worker processes with `threads`
    torch threads each (`mnistlab.jobs`); the numbers equal a sequential run with that
    many threads. Returns the final results.json content; `results["complete"]` is False if
    stopped early.
    """
    out_dir = Path(out_dir)
    jobs = plan(experiments, seeds, out_dir, quick=quick, only=only)
    if not jobs:
        raise UsageError("Nothing to run: pass at least one seed and one experiment.")
    from mnistlab.report_results import ReportWriter  # matplotlib loads only when a report is made

    writer = ReportWriter(out_dir, data, experiments, jobs, quick=quick, runtime=dict(runtime or {}))
    eta = _Eta(jobs)
    done = [finished_results(job) for job in jobs]  # also checks every folder before training starts
    for index, results in enumerate(done):
        if results is not None:
            eta.observe(index, results["steps"], results["train_seconds"] / max(1, results["steps"]))
    writer.update(running=None)

    def emit(index: int, state: str, step: int, **extra: Any) -> None:
        if on_progress is not None:
            job = jobs[index]
            on_progress(
                Progress(
                    job=index + 1,
                    jobs=len(jobs),
                    title=job.experiment.title,
                    seed=job.seed,
                    step=step,
                    steps=job.config.steps,
                    state=state,
                    eta_seconds=eta.seconds() / processes,  # runs in parallel share the wait
                    **extra,
                )
            )

    if processes > 1:
        from mnistlab.jobs import Outcome, RunSpec, run_parallel, threads_per_job

        specs = [
            RunSpec(index, job.config, job.run_dir, ckpt.has_checkpoint(job.run_dir))
            for index, job in enumerate(jobs)
            if done[index] is None
        ]
        for index, results in enumerate(done):
            if results is not None:
                emit(index, "reused", jobs[index].config.steps, test_accuracy=results["test_accuracy"],
                     train_seconds=results["train_seconds"])  # fmt: skip
        started: list[int] = []

        def on_start(index: int) -> None:
            started.append(index)
            writer.update(running=jobs[index])

        def on_parallel_report(index: int, report: Report) -> None:
            eta.observe(
                index, report.step, jobs[index].config.batch_size / max(report.images_per_second, 1e-9)
            )
            emit(index, "training", report.step, report=report)

        def on_done(outcome: Outcome) -> None:
            started.remove(outcome.index)
            if outcome.started and not outcome.interrupted:
                eta.observe(outcome.index, outcome.step, None)
                emit(outcome.index, "finished", outcome.step, test_accuracy=outcome.test_accuracy,
                     train_seconds=outcome.train_seconds)  # fmt: skip
            elif outcome.started:
                emit(outcome.index, "interrupted", outcome.step)
            # The page marks one run as running: the oldest still going.
            writer.update(running=jobs[started[0]] if started else None)

        run_parallel(
            specs,
            data,
            jobs=processes,
            threads=threads or threads_per_job(torch.get_num_threads(), processes),
            device=device,
            runtime=dict(runtime or {}),
            on_start=on_start,
            on_report=on_parallel_report,
            on_done=on_done,
            should_stop=should_stop,
        )
        return writer.update(running=None)
    for index, job in enumerate(jobs):
        if done[index] is not None:
            previous = done[index]
            emit(
                index,
                "reused",
                job.config.steps,
                test_accuracy=previous["test_accuracy"],
                train_seconds=previous["train_seconds"],
            )
            continue
        writer.update(running=job)

        def on_report(report: Report, index: int = index, job: Job = job) -> None:
            eta.observe(index, report.step, job.config.batch_size / max(report.images_per_second, 1e-9))
            emit(index, "training", report.step, report=report)

        result = train(
            job.config,
            data,
            run_dir=job.run_dir,
            resume=ckpt.has_checkpoint(job.run_dir),
            device=device,
            runtime=dict(runtime or {}),
            on_report=on_report,
            should_stop=should_stop,
        )
        if result.interrupted:
            emit(index, "interrupted", result.step)
            return writer.update(running=None)
        eta.observe(index, job.config.steps, None)
        emit(
            index,
            "finished",
            result.step,
            test_accuracy=result.test_accuracy,
            train_seconds=result.train_seconds,
        )
        writer.update(running=None)
    return writer.update(running=None)
