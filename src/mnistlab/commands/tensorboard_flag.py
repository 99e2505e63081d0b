"""`--tensorboard DIR` of `train`, `reproduce` and `tune`, and `MNISTLAB_TENSORBOARD`.

Only a command that asks for event files imports `mnistlab.training.tensorboard` (and so
TensorBoard): with neither the flag nor the setting nothing of it loads.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from mnistlab.config import TrainConfig

ENV = "MNISTLAB_TENSORBOARD"


def add_tensorboard_arg(parser: argparse.ArgumentParser, what: str = "the run") -> None:
    parser.add_argument(
        "--tensorboard",
        metavar="DIR",
        help=f"write TensorBoard event files of {what} under DIR (loss, lr, validation accuracy, "
        f"images/s, hyper-parameters; `tensorboard --logdir DIR`; the tensorboard extra); default: ${ENV}",
    )


def tensorboard_root(flag: str | None) -> Path | None:
    """The folder of event files: `--tensorboard DIR`, else $MNISTLAB_TENSORBOARD, else none."""
    value = flag if flag is not None else os.environ.get(ENV, "")
    return Path(value) if value else None


def run_events(flag: str | None, run_dir: Path, config: TrainConfig, resume: bool) -> Any:
    """The `RunEvents` of a `train` run (ROOT/<run folder name>), or None without a folder asked for.

    A resumed run drops what its interrupted process wrote after its checkpoint's step.
    """
    root = tensorboard_root(flag)
    if root is None:
        return None
    from mnistlab.training.tensorboard import RunEvents

    purge = None
    if resume:
        from mnistlab.runs.checkpoint import STATE_FILE, read_json

        purge = int(read_json(run_dir / STATE_FILE, "checkpoint state")["step"]) + 1
    return RunEvents(root / run_dir.name, config, purge_step=purge)


def end_events(events: Any, summary: Mapping[str, Any] | None) -> None:
    """The hyper-parameters and final metrics of a finished run (`summary`: its results.json), then close."""
    if events is None:
        return
    if summary is not None:
        from mnistlab.training.tensorboard import final_metrics

        events.finish(final_metrics(summary))
    events.close()


def reproduce_events(
    root: Path, jobs: Sequence[Any], on_progress: Callable[[Any], None]
) -> Callable[[Any], None]:
    """`on_progress` of `mnistlab reproduce`, also writing each run's events to ROOT/<run folder name>.

    `jobs` are the plan's (`reproduce.plan.Job`), matched to a `Progress` by title and seed.
    A resumed run purges the events its interrupted process wrote from its first step on.
    """
    from mnistlab.runs.checkpoint import read_results
    from mnistlab.training.tensorboard import RunEvents

    by_key = {(job.experiment.title, job.seed): job for job in jobs}
    open_events: dict[tuple[str, int], Any] = {}

    def update(p: Any) -> None:
        on_progress(p)
        key = (p.title, p.seed)
        job = by_key.get(key)
        if job is None:
            return
        if p.state == "training" and p.report is not None:
            if key not in open_events:
                open_events[key] = RunEvents(root / job.run_dir.name, job.config, purge_step=p.report.step)
            open_events[key].report(p.report)
        elif p.state in ("finished", "interrupted") and key in open_events:
            end_events(open_events.pop(key), read_results(job.run_dir) if p.state == "finished" else None)

    return update
