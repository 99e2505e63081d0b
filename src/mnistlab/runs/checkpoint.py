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
safetensors (`mnistlab.runs.tensors`), everything else from JSON, each file checked against its
schema (`mnistlab.runs.schema`) and read only as a regular file inside the folder
(`mnistlab.runs.files`). `mnistlab.runs.writer` is what writes a training run's folder.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

import torch
from torch import nn

from mnistlab.config import TrainConfig
from mnistlab.data.splits import DatasetRecord, registered_record
from mnistlab.errors import CheckpointError, MnistlabError
from mnistlab.fileio import atomic_write_json
from mnistlab.recipes import canonical_model
from mnistlab.runs.files import MAX_JSON_BYTES, read_run_file, run_file
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
CALIBRATION_FILE = "calibration.json"  # its schema and content are the reader's (mnistlab.reader)
FORMAT = "mnistlab-run/1"


class Optimizer(Protocol):
    """What a checkpoint saves and restores of an optimizer (`mnistlab.training.optim`'s SGD and
    Adam, or any torch.optim optimizer): its state dict. Typed here, not imported, so that the run
    folder's package does not depend on training's."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state_dict: dict[str, Any]) -> None: ...


def read_json(path: Path, what: str, check: Callable[[Path, str, Any], Any] | None = None) -> Any:
    """A JSON file of a run folder: a regular file inside it, of bounded size, checked against its
    schema (`mnistlab.runs.schema`) when it is one of the files a run writes, or by `check`
    (path, text, parsed) -> content when the caller's package owns the file's schema."""
    path = Path(path)
    try:
        text = read_run_file(path, what, MAX_JSON_BYTES).decode("utf-8")
        content = json.loads(text)
    except FileNotFoundError:
        raise CheckpointError(f"{path} does not exist; is {path.parent} a mnistlab run directory?") from None
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"The {what} {path} is unreadable or corrupt ({exc}).") from None
    if check is not None:
        return check(path, text, content)
    from mnistlab.runs import schema  # pydantic: loaded by the first read, not by a fresh training run

    return schema.validate(path, text, content) if path.name in schema.SCHEMAS else content


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
    if canonical_model(str(state.get("model"))) != canonical_model(model_name):  # an old name reads as it was
        raise CheckpointError(
            f"The checkpoint in {run_dir} is of model {state.get('model')!r}, not {model_name!r}."
        )
    load_weights(run_dir / state["model_file"], model, model_name=model_name)
    tensors, metadata = read_safetensors(run_dir / state["trainer_file"])  # each checks its path
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


def present(path: Path) -> bool:
    """Whether a run folder has `path` in any form: one that is a folder, a pipe or a broken link
    is then refused when read, not taken for absent."""
    return path.exists() or path.is_symlink()


def has_checkpoint(run_dir: Path) -> bool:
    return present(Path(run_dir) / STATE_FILE)


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
    saved = read_json(run_dir / CONFIG_FILE, "run config")  # its schema holds: from_dict cannot fail
    return TrainConfig.from_dict(saved["config"]), saved.get("runtime", {})


def write_run_config(run_dir: Path, config: TrainConfig, runtime: dict[str, Any]) -> None:
    atomic_write_json(Path(run_dir) / CONFIG_FILE, {"config": config.to_dict(), "runtime": runtime})


def read_results(run_dir: Path | str) -> dict[str, Any] | None:
    path = Path(run_dir) / RESULTS_FILE
    return read_json(path, "results file") if present(path) else None


def read_dataset_record(run_dir: Path | str) -> DatasetRecord:
    """What the run was trained on: its dataset.json, the one reader of that file.

    A record written before some keys existed gets their defaults (title: its name, digits,
    no digests). A run from before dataset.json was trained on its config's dataset (MNIST):
    its record is the registry's, with the registry's digests.
    """
    run_dir = require_run_dir(run_dir)
    path = run_dir / DATASET_FILE
    if not present(path):
        config, _ = read_run_config(run_dir)
        return registered_record(config.dataset)
    record = read_json(path, "dataset record")  # a name and at least 2 class names (its schema)
    defaults = {"title": record["name"], "image_kind": "digits", "source": None, "sha256": None}
    return cast(DatasetRecord, {**defaults, "validation_size": None, "sizes": None, **record})


def load_model(
    run_dir: Path | str, which: str = "final", device: str | torch.device = "cpu"
) -> tuple[nn.Module, TrainConfig]:
    """Rebuild a run's model in eval mode with its `which` weights: "best", "last" or "final".

    "final" is the checkpoint that the run's own test evaluation used. The model has one
    output per class of the run's dataset (`read_dataset_record`).
    """
    run_dir = require_run_dir(run_dir)
    config, _ = read_run_config(run_dir)
    num_classes = len(read_dataset_record(run_dir)["classes"])
    if which == "final":
        results = read_results(run_dir) or {}
        which = results.get("test_checkpoint", "last")
    if which == "best":
        path = run_dir / BEST_FILE
    elif which == "last":
        if not has_checkpoint(run_dir):
            raise CheckpointError(
                f"{run_dir} holds no checkpoint yet: its training stopped before the first one; "
                f"start it again with the command that began it."
            )
        path = run_dir / read_json(run_dir / STATE_FILE, "checkpoint state")["model_file"]
    else:
        raise ValueError(f"which must be 'best', 'last' or 'final', got {which!r}")
    model = _build_model(run_dir, config, config.outputs(num_classes), path)
    load_weights(path, model, model_name=config.model)
    from mnistlab.models.heads import reading_view  # here, as the models: torch.nn loads on first use

    model = reading_view(model, config.outputs(num_classes), num_classes)  # C logits, whatever the head
    return model.to(device).eval(), config


def _build_model(run_dir: Path, config: TrainConfig, num_classes: int, weights: Path) -> nn.Module:
    """The run's model, freshly initialised; its size is first checked against the weights file on
    a meta device (no memory), so a config cannot make it allocate more than the file holds."""
    from mnistlab.models import create_model

    try:
        size = run_file(weights, "checkpoint file").stat().st_size
    except FileNotFoundError:
        raise CheckpointError(
            f"Checkpoint file {weights} is missing; the run directory is incomplete."
        ) from None
    try:
        with torch.device("meta"):
            shape = create_model(config.model, num_classes=num_classes, **config.model_options)
        needed = sum(t.numel() * t.element_size() for t in shape.state_dict().values())
    except Exception:  # a model of the user's own that cannot be built on "meta": no size to check
        needed = 0
    if needed > size:
        read_safetensors(weights)  # a truncated or corrupt file is named as such first
        raise CheckpointError(
            f"{run_dir / CONFIG_FILE} describes a model of {needed:,} bytes of weights but {weights} holds "
            f"{size:,} bytes; the config and the weights are not of one run."
        )
    try:
        return create_model(config.model, num_classes=num_classes, **config.model_options)
    except (MnistlabError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(
            f"{run_dir / CONFIG_FILE} is not a valid run config: model {config.model!r} cannot be built "
            f"with model_options {dict(config.model_options)} ({exc})."
        ) from None
