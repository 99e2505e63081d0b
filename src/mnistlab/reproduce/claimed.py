"""One run of the plan, start to end: claim its folder, train (or resume) it, release the claim.

The same function runs each run of a sequential reproduction and each run a `--jobs N`
worker is handed (`parallel`), so both decide alike when a run is another process's:
its folder is claimed by a live process, or it has finished (`plan.finished_results`)
by the time the claim is won.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mnistlab.data.splits import Dataset
from mnistlab.reproduce.claims import claim
from mnistlab.reproduce.plan import Job, finished_results
from mnistlab.runs import checkpoint as ckpt
from mnistlab.runtime import load_average
from mnistlab.training.loop import train
from mnistlab.training.result import StepReport


@dataclass(frozen=True)
class Outcome:
    """How one run ended; the run's own files hold everything else."""

    index: int  # the run's position among the runs of this shard
    started: bool  # False when it was not trained here (a stop came first, or `elsewhere`)
    interrupted: bool
    step: int
    test_accuracy: float | None
    train_seconds: float
    elsewhere: bool = False  # claimed or finished by another process: not trained here


def not_started(index: int) -> Outcome:
    """A run that a stop kept from beginning."""
    return Outcome(index, False, True, 0, None, 0.0)


def train_claimed(
    index: int,
    job: Job,
    data: Dataset,
    *,
    device: str,
    runtime: Mapping[str, Any],
    on_start: Callable[[], None] | None = None,
    on_report: Callable[[StepReport], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Outcome:
    """Train `job` in this process unless another process holds or has finished it.

    The claim is taken here, in the process that trains, so a claim's pid is that process.
    `on_start()` runs once the claim is won, before training; `runtime` describes the
    invocation, and each run adds the 1-minute load average at its own start.
    """
    owned = claim(job.run_dir)
    if owned is None or finished_results(job) is not None:  # another process has it, or finished it
        if owned is not None:
            owned.release()
        return Outcome(index, False, False, 0, None, 0.0, elsewhere=True)
    try:
        if on_start is not None:
            on_start()
        result = train(
            job.config,
            data,
            run_dir=job.run_dir,
            resume=ckpt.has_checkpoint(job.run_dir),
            device=device,
            runtime={**runtime, "load_average_start": load_average()},
            on_report=on_report,
            should_stop=should_stop,
        )
    finally:
        owned.release()
    return Outcome(index, True, result.interrupted, result.step, result.test_accuracy, result.train_seconds)
