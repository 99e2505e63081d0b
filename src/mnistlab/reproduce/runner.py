"""Training, reusing or resuming every run of a reproduction, with the time left and a hook after each.

Each run is trained in its own folder (`plan`) by `claimed.train_claimed`, here one after
another or in worker processes (`parallel`). Whenever a run starts or ends, `on_update` is
called with the run training now: the command rebuilds the report there (`mnistlab.report`),
so the softmax rows appear while the CNN is still training; nothing here renders.

A process trains only its shard of the plan (`claims.shard_indices`; all of it by default)
and only the runs whose folder it claims, so several processes or machines sharing the
report folder split the work.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch

from mnistlab.data.splits import Dataset
from mnistlab.reproduce.claimed import Outcome, train_claimed
from mnistlab.reproduce.claims import CLAIM_FILE, holder, shard_indices
from mnistlab.reproduce.parallel import RunSpec, run_parallel, threads_per_job
from mnistlab.reproduce.plan import Job, finished_results
from mnistlab.training.result import StepReport


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
    report: StepReport | None = None
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

    def observe_report(self, index: int, report: StepReport) -> None:
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


class _Display:
    """One shard's runs as the caller sees them: progress with the time left, and the run training now."""

    def __init__(
        self,
        jobs: Sequence[Job],
        processes: int,
        on_progress: Callable[[Progress], None] | None,
        on_update: Callable[[Job | None], object] | None,
    ) -> None:
        self.jobs, self.processes = jobs, processes
        self.on_progress, self.on_update = on_progress, on_update
        self.eta = Eta(jobs)
        self.started: list[int] = []  # the runs shown as training, oldest first

    def emit(self, index: int, state: str, step: int, **extra: Any) -> None:
        if self.on_progress is None:
            return
        job = self.jobs[index]
        self.on_progress(
            Progress(
                job=index + 1,
                jobs=len(self.jobs),
                title=job.experiment.title,
                seed=job.seed,
                step=step,
                steps=job.config.steps,
                state=state,
                eta_seconds=self.eta.seconds() / self.processes,  # runs in parallel share the wait
                eta_unmeasured=self.eta.unmeasured(),
                **extra,
            )
        )

    def update(self, running: Job | None) -> None:
        if self.on_update is not None:
            self.on_update(running)

    def reused(self, index: int, results: Mapping[str, Any]) -> None:
        self.emit(index, "reused", self.jobs[index].config.steps, test_accuracy=results["test_accuracy"],
                  train_seconds=results["train_seconds"])  # fmt: skip

    def start(self, index: int) -> None:
        self.started.append(index)
        self.update(self.jobs[index])

    def report(self, index: int, report: StepReport) -> None:
        self.eta.observe_report(index, report)
        self.emit(index, "training", report.step, report=report)

    def done(self, outcome: Outcome) -> None:
        index, job = outcome.index, self.jobs[outcome.index]
        if outcome.elsewhere:
            self.eta.observe(index, job.config.steps, None)
            self.emit(
                index, "elsewhere", 0, claimed_by=holder(job.run_dir), claim_file=job.run_dir / CLAIM_FILE
            )
        elif outcome.started and not outcome.interrupted:
            self.eta.observe(index, outcome.step, None)
            self.emit(index, "finished", outcome.step, test_accuracy=outcome.test_accuracy,
                      train_seconds=outcome.train_seconds)  # fmt: skip
        elif outcome.started:
            self.emit(index, "interrupted", outcome.step)
        if index in self.started:  # a run that was shown as training: the page changes
            self.started.remove(index)
            # The page marks one run as running: the oldest still going.
            self.update(self.jobs[self.started[0]] if self.started else None)


def run_plan(
    planned: Sequence[Job],
    data: Dataset,
    *,
    device: str = "cpu",
    runtime: Mapping[str, Any] | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    on_update: Callable[[Job | None], object] | None = None,
    should_stop: Callable[[], bool] | None = None,
    processes: int = 1,
    threads: int | None = None,
    shard: tuple[int, int] | None = None,
    report_only: bool = False,
) -> list[Outcome]:
    """Run (or reuse, or resume) this shard's runs of `planned`; returns the outcomes of those tried.

    Every folder of the plan is checked first (`finished_results` refuses one holding another
    run). `on_update(running)` is called before the first run and whenever a run starts or
    ends, with the run training now (None between runs). `processes > 1` trains that many
    runs at once in worker processes with `threads` torch threads each (`parallel`); the
    numbers equal a sequential run with that many threads. `shard=(K, N)` trains only runs
    K, K + N, ... of the plan; a run whose folder another live process has claimed is left to
    it. `report_only` trains nothing. A stop (`should_stop`) ends the runs at their next step.
    """
    done_all = [finished_results(job) for job in planned]  # also checks every folder before training starts
    mine = [] if report_only else shard_indices(len(planned), shard)
    jobs, done = [planned[i] for i in mine], [done_all[i] for i in mine]
    if not jobs:
        return []
    display = _Display(jobs, processes, on_progress, on_update)
    for index, results in enumerate(done):
        if results is not None:
            display.eta.observe(index, results["steps"], results["train_seconds"] / max(1, results["steps"]))
    display.update(None)
    runtime = dict(runtime or {})
    if processes <= 1:
        return _one_after_another(
            jobs, done, data, display, device=device, runtime=runtime, should_stop=should_stop
        )
    for index, results in enumerate(done):
        if results is not None:
            display.reused(index, results)
    return run_parallel(
        [RunSpec(index, job) for index, job in enumerate(jobs) if done[index] is None],
        data,
        jobs=processes,
        threads=threads or threads_per_job(torch.get_num_threads(), processes),
        device=device,
        runtime=runtime,
        on_start=display.start,
        on_report=display.report,
        on_done=display.done,
        should_stop=should_stop,
    )


def _one_after_another(
    jobs: Sequence[Job],
    done: Sequence[Mapping[str, Any] | None],
    data: Dataset,
    display: _Display,
    *,
    device: str,
    runtime: Mapping[str, Any],
    should_stop: Callable[[], bool] | None,
) -> list[Outcome]:
    """The runs in plan order in this process; a stop ends the reproduction with the run it stopped."""
    outcomes = []
    for index, job in enumerate(jobs):
        if done[index] is not None:
            display.reused(index, done[index])
            continue
        outcome = train_claimed(
            index,
            job,
            data,
            device=device,
            runtime=runtime,
            on_start=partial(display.start, index),
            on_report=partial(display.report, index),
            should_stop=should_stop,
        )
        display.done(outcome)
        outcomes.append(outcome)
        if outcome.interrupted:
            break
    return outcomes
