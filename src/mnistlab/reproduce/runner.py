"""Training, reusing or resuming every run of a reproduction, with the time left and a report after each.

Each run is trained by `mnistlab.training.loop.train` in its own folder (`plan`). After every run
the report is rebuilt from the runs' own results.json files (`results`), so no number on the
page is typed by hand, and the softmax rows appear while the CNN is still training.

A process trains only its shard of the plan (`claims.shard_indices`; all of it by default)
and only the runs whose folder it claims, so several processes or machines sharing the
report folder split the work; the report always covers the whole plan.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from mnistlab.data.splits import Dataset
from mnistlab.errors import UsageError
from mnistlab.reproduce.claims import CLAIM_FILE, claim, holder, shard_indices
from mnistlab.reproduce.experiments import PAPER_EXPERIMENTS, PAPER_SEEDS, Experiment
from mnistlab.reproduce.parallel import Outcome, RunSpec, run_parallel, threads_per_job
from mnistlab.reproduce.plan import Job, finished_results, plan
from mnistlab.runs import checkpoint as ckpt
from mnistlab.runtime import load_average
from mnistlab.training.loop import Report, train


@dataclass(frozen=True)
class Progress:
    """Where the reproduction is: job `job` of `jobs`, its step, and the time left for all jobs."""

    job: int  # 1-based
    jobs: int
    title: str
    seed: int
    step: int
    steps: int
    state: str  # "training", "reused", "finished", "interrupted" or "elsewhere" (claimed by another process)
    eta_seconds: float  # for the runs whose speed is measured; see `eta_unmeasured`
    report: Report | None = None
    test_accuracy: float | None = None
    train_seconds: float | None = None
    eta_unmeasured: tuple[str, ...] = ()  # models with steps left whose speed is not measured yet
    claimed_by: str | None = None  # "elsewhere": the live claim's "host pid N"; None if it finished there
    claim_file: Path | None = None  # "elsewhere": the claim to delete if that process is known to be gone


class Eta:
    """Time left: each job's remaining steps times its kind's measured seconds per step.

    A kind (model, batch size) is timed by its own runs only: a finished run's average, then a
    running one's reports. Until then it is listed by `unmeasured`, not guessed: a fixed prior
    of 0.2 s per CNN step was several times too slow on a laptop CPU.
    """

    def __init__(self, jobs: Sequence[Job]) -> None:
        self.jobs = jobs
        self.left = [job.config.steps for job in jobs]
        self.rate: dict[tuple[str, int], float] = {}
        self.first: dict[int, tuple[int, float]] = {}  # each job's first report: (step, elapsed)

    def _key(self, job: Job) -> tuple[str, int]:
        return job.config.model, job.config.batch_size

    def observe(self, index: int, step: int, seconds_per_step: float | None) -> None:
        self.left[index] = self.jobs[index].config.steps - step
        if seconds_per_step is not None and math.isfinite(seconds_per_step) and seconds_per_step > 0:
            self.rate[self._key(self.jobs[index])] = seconds_per_step

    def observe_report(self, index: int, report: Report) -> None:
        """A running job's speed, counted from its first report on.

        The first interval holds start-up costs (on the loaded 2-core EPYC, softmax's first 50
        steps ran at 600 images/s, its next 950 at ~6,900; timed from them, a fresh `make run`
        opened with "~4:22:03 left"), so it never sets a speed: until a second report the
        kind stays "estimating…".
        """
        first_step, first_elapsed = self.first.setdefault(index, (report.step, report.elapsed))
        rate = None
        if report.step > first_step:
            rate = (report.elapsed - first_elapsed) / (report.step - first_step)
        self.observe(index, report.step, rate)

    def seconds(self) -> float:
        """Seconds left for the runs of measured kinds."""
        return sum(
            left * self.rate[self._key(job)]
            for job, left in zip(self.jobs, self.left, strict=True)
            if left > 0 and self._key(job) in self.rate
        )

    def unmeasured(self) -> tuple[str, ...]:
        """Models with steps left whose speed is not known yet, in run order."""
        models = [
            job.config.model
            for job, left in zip(self.jobs, self.left, strict=True)
            if left > 0 and self._key(job) not in self.rate
        ]
        return tuple(dict.fromkeys(models))


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
    shard: tuple[int, int] | None = None,
    report_only: bool = False,
) -> dict[str, Any]:
    """Run (or reuse, or resume) every (experiment, seed), rewriting the report in `out_dir` after each.

    `processes > 1` trains that many runs at once in worker processes with `threads`
    torch threads each (`parallel`); the numbers equal a sequential run with that
    many threads. `shard=(K, N)` trains only runs K, K + N, ... of the plan; a run whose
    folder another live process has claimed is left to it. `report_only` trains nothing.
    Returns the final results.json content; `results["complete"]` is False while any run of
    the whole plan is unfinished.
    """
    out_dir = Path(out_dir)
    planned = plan(experiments, seeds, out_dir, quick=quick, only=only)
    if not planned:
        raise UsageError("Nothing to run: pass at least one seed and one experiment.")
    from mnistlab.report.results import ReportWriter  # matplotlib loads only when a report is made

    writer = ReportWriter(out_dir, data, experiments, planned, quick=quick, runtime=dict(runtime or {}))
    done_all = [finished_results(job) for job in planned]  # also checks every folder before training starts
    if report_only:
        return writer.update(running=None)
    mine = shard_indices(len(planned), shard)
    jobs = [planned[i] for i in mine]
    done = [done_all[i] for i in mine]
    if not jobs:
        return writer.update(running=None)
    eta = Eta(jobs)
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
                    eta_unmeasured=eta.unmeasured(),
                    **extra,
                )
            )

    def emit_elsewhere(index: int) -> None:
        run_dir = jobs[index].run_dir
        emit(index, "elsewhere", 0, claimed_by=holder(run_dir), claim_file=run_dir / CLAIM_FILE)

    if processes > 1:
        specs = [
            RunSpec(index, job.config, job.run_dir) for index, job in enumerate(jobs) if done[index] is None
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
            eta.observe_report(index, report)
            emit(index, "training", report.step, report=report)

        def on_done(outcome: Outcome) -> None:
            started.remove(outcome.index)
            if outcome.elsewhere:
                eta.observe(outcome.index, jobs[outcome.index].config.steps, None)
                emit_elsewhere(outcome.index)
            elif outcome.started and not outcome.interrupted:
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
        owned = claim(job.run_dir)
        if owned is None or finished_results(job) is not None:  # another process has it, or finished it
            if owned is not None:
                owned.release()
            eta.observe(index, job.config.steps, None)
            emit_elsewhere(index)
            continue
        writer.update(running=job)

        def on_report(report: Report, index: int = index) -> None:
            eta.observe_report(index, report)
            emit(index, "training", report.step, report=report)

        try:
            # The invocation's runtime was described once, at its start: each run gets its own start load.
            result = train(
                job.config,
                data,
                run_dir=job.run_dir,
                resume=ckpt.has_checkpoint(job.run_dir),
                device=device,
                runtime={**(runtime or {}), "load_average_start": load_average()},
                on_report=on_report,
                should_stop=should_stop,
            )
        finally:
            owned.release()
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
