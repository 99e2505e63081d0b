"""What a training run writes into its run folder, in one place.

`RunWriter` owns every write of a run folder while it trains: config.json and dataset.json
at the start, metrics.jsonl lines, best.safetensors, the "last" checkpoint, results.json and
calibration.json.
Its base `Writer` has the same methods and writes nothing: the writer of a run without a
folder, and of every data-parallel process but the one that owns the folder
(`mnistlab.training.strategy` picks), so the loop never asks whether to write. Reading a run folder is `mnistlab.runs.checkpoint`'s.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mnistlab.config import TrainConfig
from mnistlab.data.splits import DatasetRecord
from mnistlab.fileio import atomic_write_bytes, atomic_write_json
from mnistlab.runs.checkpoint import (
    BEST_FILE,
    CALIBRATION_FILE,
    DATASET_FILE,
    METRICS_FILE,
    RESULTS_FILE,
    Optimizer,
    TrainingState,
    save_checkpoint,
    write_run_config,
)
from mnistlab.runs.tensors import save_weights


class Writer:
    """What a training run writes; this base writes nothing (no run folder, or not this
    process's to write)."""

    def start(
        self, config: TrainConfig, runtime: dict[str, Any], dataset: DatasetRecord, resumed_at: int | None
    ) -> None:
        pass

    def append_metrics(self, record: Mapping[str, Any]) -> None:
        pass

    def save_best(self, model: nn.Module, model_name: str, step: int) -> None:
        pass

    def save_last(
        self,
        model: nn.Module,
        model_name: str,
        optimizer: Optimizer,
        rng: dict[str, torch.Tensor],
        state: TrainingState,
    ) -> None:
        pass

    def write_results(self, summary: dict[str, Any]) -> None:
        pass

    def write_calibration(self, content: dict[str, Any]) -> None:
        """calibration.json's content, as `mnistlab.reader.calibration.calibration_content` makes it."""


class RunWriter(Writer):
    """The writer of the run folder `run_dir`."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir

    def start(
        self, config: TrainConfig, runtime: dict[str, Any], dataset: DatasetRecord, resumed_at: int | None
    ) -> None:
        """A fresh run starts a new metrics.jsonl; one resumed at step `resumed_at` keeps its
        lines up to that step. Then the config and the dataset record."""
        metrics = self.run_dir / METRICS_FILE
        if resumed_at is None:
            metrics.unlink(missing_ok=True)
        else:
            _truncate_metrics(metrics, resumed_at)
        write_run_config(self.run_dir, config, runtime)
        atomic_write_json(self.run_dir / DATASET_FILE, dataset)

    def append_metrics(self, record: Mapping[str, Any]) -> None:
        with (self.run_dir / METRICS_FILE).open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def save_best(self, model: nn.Module, model_name: str, step: int) -> None:
        save_weights(self.run_dir / BEST_FILE, model, {"model": model_name, "step": str(step)})

    def save_last(
        self,
        model: nn.Module,
        model_name: str,
        optimizer: Optimizer,
        rng: dict[str, torch.Tensor],
        state: TrainingState,
    ) -> None:
        save_checkpoint(
            self.run_dir, model_name=model_name, model=model, optimizer=optimizer, rng=rng, state=state
        )

    def write_results(self, summary: dict[str, Any]) -> None:
        atomic_write_json(self.run_dir / RESULTS_FILE, summary)

    def write_calibration(self, content: dict[str, Any]) -> None:
        atomic_write_json(self.run_dir / CALIBRATION_FILE, content)


def run_writer(run_dir: Path | None) -> Writer:
    """The writer of `run_dir`; one that writes nothing when there is no run folder."""
    return Writer() if run_dir is None else RunWriter(run_dir)


def _truncate_metrics(path: Path, last_step: int) -> None:
    """Drop metric lines written after the checkpoint a resumed run restarts from."""
    if not path.is_file():
        return
    kept = [line for line in path.read_text().splitlines() if json.loads(line)["step"] <= last_step]
    atomic_write_bytes(path, "".join(line + "\n" for line in kept).encode())
