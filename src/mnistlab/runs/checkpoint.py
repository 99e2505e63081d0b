"""Run directories: the layout, the "last" checkpoint and the JSON files, all atomic.

Layout of a run directory::

    config.json                 resolved TrainConfig and runtime (device, threads, versions)
    state.json                  the "last" checkpoint: step, best validation, file names
    model-<step>.safetensors    weights at that step
    trainer-<step>.safetensors  optimizer tensors and RNG states at that step
    best.safetensors            weights with the best validation accuracy so far
    metrics.jsonl               one JSON object per logged step
    results.json                final accuracies, wall time and which checkpoint was tested
    dataset.json                the data it was trained on: a `DatasetRecord` (name, classes,
                                content SHA-256 of each file, ...); runs older than this
                                file were trained on their config's dataset, MNIST

`state.json` is the commit point: it is replaced atomically only after the files it names
are complete, and older files are deleted only after that, so a kill at any moment leaves
either the previous or the new checkpoint. Nothing is ever unpickled: tensors come from
safetensors (`mnistlab.runs.tensors`), everything else from JSON. `mnistlab.runs.writer`
is what writes a training run's folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

import torch
from torch import nn

from mnistlab.config import TrainConfig
from mnistlab.data.splits import DatasetRecord, registered_record
from mnistlab.errors import CheckpointError
from mnistlab.fileio import atomic_write_json
from mnistlab.runs.tensors import (
    flatten_optimizer,
    load_weights,
    read_safetensors,
    save_weights,
    unflatten_optimizer,
    write_safetensors,
)

CONFIG_FILE = "config.json"
STATE_FILE = "state.json"
BEST_FILE = "best.safetensors"
METRICS_FILE = "metrics.jsonl"
RESULTS_FILE = "results.json"
DATASET_FILE = "dataset.json"
FORMAT = "mnistlab-run/1"


class Optimizer(Protocol):
    """What a checkpoint saves and restores of an optimizer (`mnistlab.training.optim`'s SGD and
    Adam, or any torch.optim optimizer): its state dict. Typed here, not imported, so that the run
    folder's package does not depend on training's."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state_dict: dict[str, Any]) -> None: ...


def read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path} does not exist; is {path.parent} a mnistlab run directory?") from None
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"The {what} {path} is unreadable or corrupt ({exc}).") from None


# -- the "last" checkpoint -----------------------------------------------------------------


@dataclass(frozen=True)
class TrainingState:
    """What `state.json` records besides the tensors."""

    step: int
    best_val_accuracy: float
    best_step: int
    extra: dict[str, Any]


def save_checkpoint(
    run_dir: Path,
    *,
    model_name: str,
    model: nn.Module,
    optimizer: Optimizer,
    rng: dict[str, torch.Tensor],
    state: TrainingState,
) -> None:
    run_dir = Path(run_dir)
    previous = _checkpoint_files(run_dir)
    opt_tensors, opt_plain = flatten_optimizer(optimizer.state_dict())
    rng_tensors = {f"rng.{k}": v.detach().cpu().contiguous() for k, v in rng.items()}
    model_file, trainer_file = (
        f"model-{state.step:07d}.safetensors",
        f"trainer-{state.step:07d}.safetensors",
    )
    save_weights(run_dir / model_file, model, {"model": model_name, "step": str(state.step)})
    write_safetensors(
        run_dir / trainer_file, {**opt_tensors, **rng_tensors}, {"optimizer": json.dumps(opt_plain)}
    )
    atomic_write_json(
        run_dir / STATE_FILE,
        {
            "format": FORMAT,
            "model": model_name,
            "step": state.step,
            "best_val_accuracy": state.best_val_accuracy,
            "best_step": state.best_step,
            "model_file": model_file,
            "trainer_file": trainer_file,
            "extra": state.extra,
            "versions": {"torch": torch.__version__},
        },
    )
    for name in previous - {model_file, trainer_file}:
        (run_dir / name).unlink(missing_ok=True)


def _checkpoint_files(run_dir: Path) -> set[str]:
    if not run_dir.is_dir():
        return set()
    return {p.name for p in run_dir.glob("*-*.safetensors") if p.name.startswith(("model-", "trainer-"))}


def load_checkpoint(
    run_dir: Path, *, model_name: str, model: nn.Module, optimizer: Optimizer
) -> tuple[TrainingState, dict[str, torch.Tensor]]:
    """Restore model and optimizer from the last checkpoint; returns its state and RNG states."""
    run_dir = require_run_dir(run_dir)
    state = read_json(run_dir / STATE_FILE, "checkpoint state")
    if state.get("model") != model_name:
        raise CheckpointError(
            f"The checkpoint in {run_dir} is of model {state.get('model')!r}, not {model_name!r}."
        )
    load_weights(run_dir / state["model_file"], model, model_name=model_name)
    tensors, metadata = read_safetensors(run_dir / state["trainer_file"])
    try:
        optimizer.load_state_dict(unflatten_optimizer(tensors, json.loads(metadata["optimizer"])))
    except (KeyError, ValueError) as exc:
        raise CheckpointError(f"The optimizer state in {run_dir} does not fit this run ({exc}).") from None
    rng = {k.removeprefix("rng."): v for k, v in tensors.items() if k.startswith("rng.")}
    training_state = TrainingState(
        step=state["step"],
        best_val_accuracy=state["best_val_accuracy"],
        best_step=state["best_step"],
        extra=state.get("extra", {}),
    )
    return training_state, rng


def has_checkpoint(run_dir: Path) -> bool:
    return (Path(run_dir) / STATE_FILE).is_file()


def require_run_dir(run_dir: Path | str) -> Path:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise CheckpointError(
            f"Run directory {run_dir} does not exist; pass a directory made by `mnistlab train`."
        )
    if not (run_dir / CONFIG_FILE).is_file():
        raise CheckpointError(f"{run_dir} is not a mnistlab run directory (it has no {CONFIG_FILE}).")
    return run_dir


# -- reading a finished (or interrupted) run ---------------------------------------------


def read_run_config(run_dir: Path | str) -> tuple[TrainConfig, dict[str, Any]]:
    """The run's TrainConfig and its runtime record (device, threads, versions)."""
    run_dir = require_run_dir(run_dir)
    saved = read_json(run_dir / CONFIG_FILE, "run config")
    try:
        return TrainConfig.from_dict(saved["config"]), saved.get("runtime", {})
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"The run config in {run_dir} is invalid ({exc}).") from None


def write_run_config(run_dir: Path, config: TrainConfig, runtime: dict[str, Any]) -> None:
    atomic_write_json(Path(run_dir) / CONFIG_FILE, {"config": config.to_dict(), "runtime": runtime})


def read_results(run_dir: Path | str) -> dict[str, Any] | None:
    path = Path(run_dir) / RESULTS_FILE
    return read_json(path, "results file") if path.is_file() else None


def read_dataset_record(run_dir: Path | str) -> DatasetRecord:
    """What the run was trained on: its dataset.json, the one reader of that file.

    A record written before some keys existed gets their defaults (title: its name, digits,
    no digests). A run from before dataset.json was trained on its config's dataset (MNIST):
    its record is the registry's, with the registry's digests.
    """
    run_dir = require_run_dir(run_dir)
    path = run_dir / DATASET_FILE
    if not path.is_file():
        config, _ = read_run_config(run_dir)
        return registered_record(config.dataset)
    record = read_json(path, "dataset record")
    classes = record.get("classes") if isinstance(record, dict) else None
    if not (
        isinstance(classes, list)
        and isinstance(record.get("name"), str)
        and len(classes) >= 2
        and all(isinstance(c, str) for c in classes)
    ):
        raise CheckpointError(f"The dataset record {path} lacks a name or a list of at least 2 class names.")
    defaults = {"title": record["name"], "image_kind": "digits", "source": None, "sha256": None}
    return cast(DatasetRecord, {**defaults, "validation_size": None, "sizes": None, **record})


def load_model(
    run_dir: Path | str, which: str = "final", device: str | torch.device = "cpu"
) -> tuple[nn.Module, TrainConfig]:
    """Rebuild a run's model in eval mode with its `which` weights: "best", "last" or "final".

    "final" is the checkpoint that the run's own test evaluation used. The model has one
    output per class of the run's dataset (`read_dataset_record`).
    """
    from mnistlab.models import create_model

    run_dir = require_run_dir(run_dir)
    config, _ = read_run_config(run_dir)
    num_classes = len(read_dataset_record(run_dir)["classes"])
    if which == "final":
        results = read_results(run_dir) or {}
        which = results.get("test_checkpoint", "last")
    if which == "best":
        path = run_dir / BEST_FILE
    elif which == "last":
        path = run_dir / read_json(run_dir / STATE_FILE, "checkpoint state")["model_file"]
    else:
        raise ValueError(f"which must be 'best', 'last' or 'final', got {which!r}")
    model = create_model(config.model, num_classes=num_classes, **config.model_options)
    load_weights(path, model, model_name=config.model)
    return model.to(device).eval(), config
