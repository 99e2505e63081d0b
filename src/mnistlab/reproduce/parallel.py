"""Independent training runs in parallel processes: what `mnistlab reproduce --jobs N` uses.

Each run trains in a worker process started with the "spawn" method (a fresh interpreter:
no forked threads or locks), with `threads` torch threads, so N workers share the cores
instead of fighting over them; a worker claims, trains and releases its run exactly as a
sequential reproduction does (`claimed.train_claimed`). Workers send progress reports over
one queue to the parent, which owns every display and file outside the run directories.
A run's numbers depend only on its config and its thread count (on a 2-core AMD EPYC the
paper CNN's weights already differ between 1 and 2 threads after 10 steps), so N parallel
runs give the results of the same runs one after another with `--threads` equal to `threads`.
"""

from __future__ import annotations

import multiprocessing
import queue
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import torch

from mnistlab.data.splits import Dataset
from mnistlab.errors import UsageError
from mnistlab.reproduce.claimed import Outcome, not_started, train_claimed
from mnistlab.reproduce.plan import Job
from mnistlab.training.result import StepReport


@dataclass(frozen=True)
class RunSpec:
    """One run for a worker: `index` identifies it in reports and outcomes."""

    index: int
    job: Job


def threads_per_job(total: int, jobs: int) -> int:
    """Torch threads for each of `jobs` concurrent runs sharing `total` threads (at least 1)."""
    if jobs <= 0:
        raise UsageError(f"--jobs must be a positive integer, got {jobs}.")
    return max(1, total // jobs)


# A worker's process-wide state, set once by `_init_worker`.
_WORKER: dict[str, Any] = {}


def _init_worker(data: Dataset, reports: Any, stop: Any, threads: int, device: str, runtime: dict) -> None:
    # Ctrl-C reaches the whole process group; only the parent decides to stop, via `stop`.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(threads)
    _WORKER.update(data=data, reports=reports, stop=stop, device=device, runtime=runtime)


def _run(spec: RunSpec) -> Outcome:
    stop = _WORKER["stop"]
    if stop.is_set():  # handed out before the stop: it stays unstarted
        return not_started(spec.index)
    return train_claimed(
        spec.index,
        spec.job,
        _WORKER["data"],
        device=_WORKER["device"],
        runtime=_WORKER["runtime"],
        on_report=lambda report: _WORKER["reports"].put((spec.index, report)),
        should_stop=stop.is_set,
    )


def run_parallel(
    specs: Sequence[RunSpec],
    data: Dataset,
    *,
    jobs: int,
    threads: int,
    device: str = "cpu",
    runtime: dict[str, Any] | None = None,
    on_start: Callable[[int], None] | None = None,
    on_report: Callable[[int, StepReport], None] | None = None,
    on_done: Callable[[Outcome], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[Outcome]:
    """Train every spec, at most `jobs` at once with `threads` torch threads each.

    Callbacks run in this process: `on_start(index)` when a run is handed to a worker,
    `on_report(index, report)` for its progress, `on_done(outcome)` when it ends. When
    `should_stop()` turns true, running runs stop at their next step with a checkpoint and
    runs not yet begun are not started. Outcomes are returned in the order of `specs`.
    """
    context = multiprocessing.get_context("spawn")
    reports, stop = context.Queue(), context.Event()
    outcomes: dict[int, Outcome] = {}
    init = (data, reports, stop, threads, device, {**(runtime or {}), "threads": threads, "jobs": jobs})
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=_init_worker, initargs=init) as pool:
        waiting = list(specs)
        running: dict[Future, RunSpec] = {}

        def drain() -> None:
            while True:
                try:
                    index, report = reports.get_nowait()
                except queue.Empty:
                    return
                if index not in outcomes and on_report is not None:  # a late report of a finished run
                    on_report(index, report)

        while waiting or running:
            # Hand out runs one at a time, so a stop leaves the rest unstarted.
            while waiting and len(running) < jobs and not stop.is_set():
                spec = waiting.pop(0)
                running[pool.submit(_run, spec)] = spec
                if on_start is not None:
                    on_start(spec.index)
            if stop.is_set():
                waiting.clear()
            finished, _ = wait(running, timeout=0.2, return_when=FIRST_COMPLETED)
            drain()
            if should_stop is not None and should_stop():
                stop.set()
            for future in finished:
                running.pop(future)
                outcome = future.result()  # a worker's exception is re-raised here
                outcomes[outcome.index] = outcome
                if on_done is not None:
                    on_done(outcome)
    return [outcomes[spec.index] for spec in specs if spec.index in outcomes]
