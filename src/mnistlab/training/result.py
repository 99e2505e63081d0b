"""What training reports: a `StepReport` while it runs, a `TrainResult` and its JSON at the end.

`StepReport` is what a progress bar, a log and metrics.jsonl see at a logged step;
`summarize` is the JSON of results.json and of `mnistlab train --json`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from mnistlab.config import TrainConfig
from mnistlab.evaluation.metrics import Evaluation
from mnistlab.training.strategy import SINGLE, Strategy

# Which weights the final test evaluation uses. The paper reports its final model.
TEST_CHECKPOINT = "last"


@dataclass(frozen=True)
class StepReport:
    """Progress at one step, for a progress bar or a log."""

    step: int
    steps: int
    loss: float
    batch_accuracy: float
    lr: float
    val_accuracy: float | None  # the latest validation accuracy, if any yet
    images_per_second: float
    elapsed: float  # seconds of training in this process
    evaluated: bool = False  # whether validation ran at this step

    def metrics_record(self) -> dict[str, Any]:
        """The step's line of metrics.jsonl: every field but `steps`, in field order."""
        return {k: v for k, v in self.__dict__.items() if k != "steps"}


@dataclass(frozen=True)
class TrainResult:
    config: TrainConfig
    model: nn.Module
    step: int
    interrupted: bool
    val_accuracy: float | None
    best_val_accuracy: float
    best_step: int
    test: Evaluation | None
    train_seconds: float
    run_dir: Path | None
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def test_accuracy(self) -> float | None:
        return None if self.test is None else self.test.accuracy


def summarize(result: TrainResult, runtime: dict[str, Any], strategy: Strategy = SINGLE) -> dict[str, Any]:
    """The JSON a run reports: accuracies as fractions, which checkpoint was tested, and how
    the batch was split over processes."""
    return {
        "model": result.config.model,
        "recipe": result.config.recipe,
        "steps": result.step,
        "interrupted": result.interrupted,
        "test_accuracy": result.test_accuracy,
        "test_checkpoint": TEST_CHECKPOINT,
        "test": None if result.test is None else result.test.to_dict(),
        "val_accuracy": result.val_accuracy,
        "best_val_accuracy": result.best_val_accuracy,
        "best_step": result.best_step,
        "train_seconds": result.train_seconds,
        "config": result.config.to_dict(),
        "runtime": runtime,
        "distributed": strategy.describe(result.config.batch_size),
        "run_dir": None if result.run_dir is None else str(result.run_dir),
    }
