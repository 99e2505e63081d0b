"""What `mnistlab serve` serves when no run is named, so that the first start works out of the box.

The newest finished softmax and CNN runs on the dataset under the runs folder; an MNIST server
with no CNN gets the reader that ships in the package (`models.pretrained`); whatever is still
missing is trained once, with the recipe `first_start_config` names, into the runs folder,
where later starts find it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from mnistlab.config import TrainConfig, resolve_config
from mnistlab.data.splits import Dataset
from mnistlab.recipes import RECIPES
from mnistlab.runs.record import default_run_dir
from mnistlab.runtime import describe_runtime
from mnistlab.serve.models import TASKS, latest_finished_runs
from mnistlab.training.exposure import run_pool
from mnistlab.training.loop import train
from mnistlab.training.result import StepReport, TrainResult

# Without a robust or fast CNN recipe, the paper CNN for this many steps: ~1-2 min on a laptop CPU,
# ~97 % test accuracy, instead of the paper's 20,000 steps (~99.2 %, tens of minutes).
FALLBACK_CNN_STEPS = 1000
# The CNN recipe a first start trains, the first of these that exists: `reader` knows when it
# does not know (a "not a digit" output, calibrated), `robust` reads corrupted digits best.
FIRST_START_CNN_RECIPES = ("reader", "robust", "fast")


def first_start_config(task: str) -> tuple[TrainConfig, str | None]:
    """The recipe a first start trains for `task`, and a note when it is a stand-in."""
    if task != "cnn":
        return resolve_config(task), None
    for recipe in FIRST_START_CNN_RECIPES:
        if recipe in RECIPES:
            return resolve_config("cnn", recipe), None
    config = resolve_config("cnn", overrides={"steps": FALLBACK_CNN_STEPS, "eval_every": 500})
    return config, f"no fast CNN recipe here, so the paper CNN for {FALLBACK_CNN_STEPS:,} steps"


@dataclass(frozen=True)
class RunsToServe:
    """The finished runs found for each task, and the tasks that have none yet."""

    found: dict[str, Path]  # task -> run folder
    shipped_reader: bool  # the CNN is the reader that ships with mnistlab
    missing: tuple[str, ...]  # in TASKS order: to be trained before serving

    def run_dirs(self, trained: dict[str, Path]) -> list[Path]:
        """One run folder per task, in TASKS order, with `trained` filling in the missing ones."""
        found = {**self.found, **trained}
        return [found[task] for task in TASKS]


def runs_to_serve(runs_dir: Path | str, dataset: str) -> RunsToServe:
    """The newest finished run of each task on `dataset` in `runs_dir`, or MNIST's shipped reader."""
    found = latest_finished_runs(Path(runs_dir), dataset)
    shipped = "cnn" not in found and dataset == "mnist"
    if shipped:
        from mnistlab.models.pretrained import reader_run

        found["cnn"] = reader_run()
    return RunsToServe(found, shipped, tuple(task for task in TASKS if task not in found))


@dataclass(frozen=True)
class FirstStartRun:
    """One run a first start trains: its task, config and folder, and a note when a stand-in."""

    task: str
    config: TrainConfig
    note: str | None
    run_dir: Path


def first_start_run(task: str, dataset: str, runs_dir: Path | str) -> FirstStartRun:
    """The run a first start trains for `task` on `dataset`, in a new folder of `runs_dir`."""
    config, note = first_start_config(task)
    config = dataclasses.replace(config, dataset=dataset)
    return FirstStartRun(task, config, note, Path(runs_dir) / default_run_dir(config).name)


def train_first_start(
    run: FirstStartRun,
    data: Dataset,
    *,
    device: torch.device,
    data_dir: str | None = None,
    on_report: Callable[[StepReport], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainResult:
    """Train `run` on `data` into its folder; `data_dir` holds the other dataset its outliers use."""
    config = run.config
    return train(
        config,
        data,
        run_dir=run.run_dir,
        device=device,
        runtime=describe_runtime(device),
        on_report=on_report,
        should_stop=should_stop,
        outliers=run_pool(config, data, data_dir=data_dir),
    )
