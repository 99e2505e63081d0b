"""One trial: its config from the space, an ordinary run folder, validation accuracy back to Optuna.

Each trial trains with `mnistlab.training.loop.train(..., evaluate_test=False)`: the test
split is never evaluated by a trial (the search sees only validation). The validation
accuracy the loop reports through `on_report` at each validation goes to `trial.report`;
when the pruner says so, `should_stop` ends the run at its next step (with a checkpoint, as
any stopped run) and the trial is pruned. The run folder `trials/trial-NNNN` is claimed
while it trains (`mnistlab.reproduce.claims`); the trial records its host and pid first,
which is how a later process finds it killed (`storage.fail_dead_trials`).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mnistlab.data.splits import Dataset
from mnistlab.errors import MnistlabError
from mnistlab.reproduce.claims import claim
from mnistlab.runtime import load_average
from mnistlab.training.result import StepReport
from mnistlab.tune.space import Space
from mnistlab.tune.storage import import_optuna

TRIALS_DIR = "trials"


def trial_dir(trials_dir: Path, number: int) -> Path:
    return trials_dir / f"trial-{number:04d}"


@dataclass(frozen=True)
class TrialContext:
    """What every trial of this process shares."""

    space: Space
    data: Dataset
    trials_dir: Path
    device: str
    runtime: Mapping[str, Any]
    tensorboard: Path | None = None  # event files under tensorboard/<study>/trial-NNNN
    should_stop: Callable[[], bool] = lambda: False


def run_trial(context: TrialContext, trial: Any) -> float | tuple[float, float]:
    """Optuna's objective: train the trial's config, return its objective value(s)."""
    optuna = import_optuna()
    from mnistlab.training.loop import train  # torch and the models load with the first trial

    space = context.space
    config = space.config({p.name: p.suggest(trial) for p in space.params})
    run_dir = trial_dir(context.trials_dir, trial.number).resolve()
    if run_dir.exists() and any(run_dir.iterdir()):
        raise MnistlabError(f"{run_dir} already holds files of another run; move it away and rerun.")
    recorded = {"run_dir": str(run_dir), "host": socket.gethostname(), "pid": os.getpid(),
                "cpu": context.runtime.get("cpu"), "torch": context.runtime.get("torch")}  # fmt: skip
    for key, value in recorded.items():  # first: how a later process tells this trial died
        trial.set_user_attr(key, value)
    owned = claim(run_dir)
    if owned is None:
        raise MnistlabError(f"{run_dir} is claimed by another process; is a trial number used twice?")
    prune = len(space.objectives) == 1 and space.pruner != "none"
    pruned_at: list[int] = []
    events = None
    if context.tensorboard is not None:
        from mnistlab.training.tensorboard import RunEvents

        study_name = trial.study.study_name
        events = RunEvents(context.tensorboard / study_name / run_dir.name, config)

    def on_report(report: StepReport) -> None:
        if events is not None:
            events.report(report)
        if prune and report.evaluated and report.val_accuracy is not None:
            trial.report(report.val_accuracy, report.step)
            if trial.should_prune():
                pruned_at.append(report.step)

    try:
        result = train(
            config,
            context.data,
            run_dir=run_dir,
            device=context.device,
            runtime={**context.runtime, "load_average_start": load_average(), "trial": trial.number},
            on_report=on_report,
            should_stop=lambda: bool(pruned_at) or context.should_stop(),
            evaluate_test=False,
        )
        metrics = {"val_accuracy": result.val_accuracy, "best_val_accuracy": result.best_val_accuracy,
                   "best_step": result.best_step, "step": result.step, "train_seconds": result.train_seconds}  # fmt: skip
        if events is not None:
            events.finish({k: metrics[k] for k in ("val_accuracy", "best_val_accuracy", "train_seconds")})
    finally:
        owned.release()
        if events is not None:
            events.close()
    for key, value in metrics.items():
        trial.set_user_attr(key, value)
    if result.interrupted:
        if pruned_at:
            raise optuna.TrialPruned(f"pruned at step {pruned_at[0]}")
        raise KeyboardInterrupt  # a signal: Optuna marks the trial failed and the study stops
    return objective_values(space, result.val_accuracy, result.train_seconds, config, trial)


def objective_values(space: Space, val_accuracy: float, train_seconds: float, config: Any, trial: Any):
    """The value (one objective) or the pair (two) a finished trial returns."""
    if len(space.objectives) == 1:
        return val_accuracy
    if space.objectives[1] == "train_seconds":
        return val_accuracy, train_seconds
    flops = training_flops(config)
    trial.set_user_attr("train_flops", flops)
    return val_accuracy, flops


def training_flops(config: Any) -> float:
    """FLOPs of the whole run: `mnistlab.bench.roofline`'s count of one step per image, times the images."""
    from mnistlab.bench.roofline import training_flops_per_image
    from mnistlab.models import create_model

    model = create_model(config.model, **config.model_options)
    return training_flops_per_image(model, batch_size=config.batch_size) * config.batch_size * config.steps
