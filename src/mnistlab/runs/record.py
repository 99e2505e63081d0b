"""What a run directory says about how it was made: its data and the command that trains it.

Exports and model cards are generated from these, never typed by hand. A run written by a
mnistlab that records `dataset.json` is read from it; older runs fall back to the dataset
registry entry named in their config.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mnistlab.runs.checkpoint import DATASET_FILE, builtin_record, read_json
from mnistlab.config import TrainConfig, resolve_config, task_of
from mnistlab.data.registry import get_dataset_spec

# The `mnistlab train` flags that set a config key directly (commands/train.py); any other
# key that differs from the recipe needs a --config file. A round-trip test keeps them in step.
TRAIN_FLAGS = ("steps", "batch_size", "lr", "seed", "eval_every")


@dataclass(frozen=True)
class DatasetRecord:
    """The data a run was trained on."""

    name: str
    classes: tuple[str, ...]
    sha256: Mapping[str, str]  # file role ("train_images", ...) -> SHA-256 of the decompressed IDX file
    source: str  # where this record came from: the run's dataset.json or the registry


def dataset_record(run_dir: Path | str, config: TrainConfig) -> DatasetRecord:
    """The run's `dataset.json` when it has one, else the registry entry of `config.dataset`."""
    path = Path(run_dir) / DATASET_FILE
    saved = read_json(path, "dataset record") if path.is_file() else builtin_record(config.dataset)
    sha256 = saved.get("sha256")
    if sha256 is None:  # written from in-memory arrays: only the registry can vouch for them
        sha256 = _registry_sha256(saved.get("name", config.dataset))
    default_source = f"{DATASET_FILE} of the run" if path.is_file() else "mnistlab's dataset registry"
    return DatasetRecord(
        name=str(saved.get("name", config.dataset)),
        classes=tuple(str(c) for c in saved["classes"]),
        sha256=dict(sha256),
        source=str(saved.get("source") or default_source),
    )


def _registry_sha256(name: str) -> dict[str, str]:
    return {role: f.sha256 for role, f in get_dataset_spec(name).files_by_role.items()}


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
