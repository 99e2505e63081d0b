"""What a run directory says about how it was made: its data and the command that trains it.

Exports and model cards are generated from these, never typed by hand. The dataset record
is the one `mnistlab.runs.checkpoint.read_dataset_record` reads (its dataset.json, or the
registry entry of an older run's config), completed for an export by `exported_record`.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mnistlab.config import TrainConfig, resolve_config
from mnistlab.data.registry import get_dataset_spec
from mnistlab.data.splits import DatasetRecord
from mnistlab.recipes import task_of
from mnistlab.runs.checkpoint import DATASET_FILE

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
    argv = ["mnistlab", "train", task, "--recipe", config.recipe]
    for key in TRAIN_FLAGS:
        if key in changed:
            argv += [f"--{key.replace('_', '-')}", str(changed.pop(key))]
    if changed:
        argv += ["--config", config_file]
    argv += ["--out", str(run_dir)]
    return TrainCommand(tuple(argv), changed or None)
