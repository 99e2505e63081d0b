"""`reproduce()`: the runs of `mnistlab.reproduce` with this package's report rewritten after each.

It lives here, above both, because the runner never renders: `mnistlab.reproduce` plans and
trains and calls back; this package renders and hands its writer to the runner as that callback.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from mnistlab.data.splits import Dataset
from mnistlab.errors import UsageError
from mnistlab.reproduce.experiments import PAPER_EXPERIMENTS, PAPER_SEEDS, Experiment
from mnistlab.reproduce.plan import plan
from mnistlab.reproduce.runner import Progress, run_plan


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
    other: Dataset | None = None,
) -> dict[str, Any]:
    """Run (or reuse, or resume) every (experiment, seed), rewriting the report in `out_dir` after each.

    The runs are `run_plan`'s (its arguments are passed on); the report is `ReportWriter`'s,
    called whenever a run starts or ends, and the report always covers the whole plan.
    `other` is the other built-in dataset (Fashion-MNIST for digits, MNIST for clothing), the
    first outlier set of the report's reader section; without it the made outlier sets alone.
    Returns the final results.json content; `results["complete"]` is False while any run of
    the whole plan is unfinished.
    """
    out_dir = Path(out_dir)
    planned = plan(experiments, seeds, out_dir, quick=quick, only=only)
    if not planned:
        raise UsageError("Nothing to run: pass at least one seed and one experiment.")
    from mnistlab.report.results import ReportWriter  # matplotlib loads only when a report is made

    writer = ReportWriter(
        out_dir, data, experiments, planned, quick=quick, runtime=dict(runtime or {}), other=other
    )
    run_plan(
        planned,
        data,
        device=device,
        runtime=runtime,
        on_progress=on_progress,
        on_update=writer.update,
        should_stop=should_stop,
        processes=processes,
        threads=threads,
        shard=shard,
        report_only=report_only,
    )
    return writer.update(running=None)
