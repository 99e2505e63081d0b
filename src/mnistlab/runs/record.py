"""What a run directory says about how it was made: its data and the command that trains it.

And the other way: the config and folder of a run a `mnistlab train` command starts or resumes.

Exports and model cards are generated from these, never typed by hand. The dataset record
is the one `mnistlab.runs.checkpoint.read_dataset_record` reads (its dataset.json, or the
registry entry of an older run's config), completed for an export by `exported_record`.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mnistlab.config import TrainConfig, resolve_config
from mnistlab.data.registry import get_dataset_spec
from mnistlab.data.splits import DatasetRecord
from mnistlab.errors import UsageError
from mnistlab.recipes import RETIRED, task_of
from mnistlab.runs.checkpoint import DATASET_FILE, has_checkpoint, read_run_config, require_run_dir

# The `mnistlab train` flags that set a config key directly (commands/train.py); any other
# key that differs from the recipe needs a --config file. A round-trip test keeps them in step.
TRAIN_FLAGS = ("steps", "batch_size", "lr", "seed", "eval_every")


def exported_record(record: DatasetRecord) -> DatasetRecord:
    """The run's dataset record (`read_dataset_record`) as an export states it: data written
    from in-memory arrays has no digests of its own, so only the registry entry of its name
    can vouch for it, and its record came from the run's dataset.json."""
    sha256 = record["sha256"]
    if sha256 is None:
        sha256 = {role: f.sha256 for role, f in get_dataset_spec(record["name"]).files_by_role.items()}
    return {**record, "sha256": dict(sha256), "source": record["source"] or f"{DATASET_FILE} of the run"}


@dataclass(frozen=True)
class TrainCommand:
    """A `mnistlab train` command line that resolves to a run's exact config."""

    argv: tuple[str, ...]
    config_file: Mapping[str, Any] | None  # keys no flag sets, for --config; None when not needed

    def __str__(self) -> str:
        return shlex.join(self.argv)


def train_command(
    config: TrainConfig, run_dir: Path | str, config_file: str = "config-overrides.json"
) -> TrainCommand | None:
    """The command that trains `config` into `run_dir`; None when no recipe builds its model."""
    task = task_of(config.model, config.recipe)
    if task is None:
        return None
    defaults = resolve_config(task, config.recipe).to_dict()
    wanted = config.to_dict()
    changed = {k: v for k, v in wanted.items() if v != defaults[k]}
    argv = ["mnistlab", "train", task]
    if config.recipe != task:  # a task's own name is its paper recipe, the default
        argv += ["--recipe", config.recipe]
    for key in TRAIN_FLAGS:
        if key in changed:
            argv += [f"--{key.replace('_', '-')}", str(changed.pop(key))]
    if changed:
        argv += ["--config", config_file]
    argv += ["--out", str(run_dir)]
    return TrainCommand(tuple(argv), changed or None)


def default_run_dir(config: TrainConfig, root: Path | str = "runs") -> Path:
    """ROOT/<recipe>-s<seed>-<local time>: the folder of a new run that names none."""
    return Path(root) / f"{config.recipe}-s{config.seed}-{time.strftime('%Y%m%d-%H%M%S')}"


def new_run(
    task: str,
    recipe: str | None,
    file_values: Mapping[str, Any],
    overrides: Mapping[str, Any],
    out: Path | str | None,
) -> tuple[TrainConfig, Path]:
    """The config of a new run (recipe, then file values, then overrides) and its folder, still empty."""
    config = resolve_config(task, recipe, file_values, overrides)
    run_dir = Path(out) if out else default_run_dir(config)
    if has_checkpoint(run_dir):
        raise UsageError(
            f"{run_dir} already holds a run; pass --resume {run_dir} to continue it, or another --out."
        )
    return config, run_dir


def resumed_run(run_dir: Path | str, task: str) -> tuple[TrainConfig, Path]:
    """The config and folder of an interrupted run of `task`, to continue where it stopped."""
    run_dir = require_run_dir(run_dir)
    config, _ = read_run_config(run_dir)
    if config.recipe in RETIRED:  # started before its recipe was retired: it keeps its config
        return config, run_dir
    if config.model != resolve_config(task, config.recipe).model:
        raise UsageError(
            f"{run_dir} is a {config.model!r} run, not {task!r}; resume it with the matching task."
        )
    return config, run_dir
