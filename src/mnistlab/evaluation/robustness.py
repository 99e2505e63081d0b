"""The robustness benchmark: a model's accuracy on every corruption of one split.

`evaluate_robustness` corrupts the test split (or the validation split, for choosing a
recipe without looking at test) with each of `mnistlab.evaluation.corruptions` at one severity and
returns the clean accuracy, the accuracy per corruption and their mean (the MNIST-C
summary). `write_robustness` stores it as `RUN_DIR/robustness.json`, which reports read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mnistlab.data.splits import Split
from mnistlab.evaluation.corruptions import (
    DEFAULT_SEED,
    DEFAULT_SEVERITY,
    check_corruptions,
    check_severity,
    corrupt,
)
from mnistlab.evaluation.metrics import accuracy
from mnistlab.fileio import atomic_write_json

ROBUSTNESS_FILE = "robustness.json"


@dataclass(frozen=True)
class RobustnessResult:
    """Accuracies (fractions in [0, 1]) of one model on one split, clean and corrupted."""

    split: str
    severity: int
    seed: int
    count: int  # images per corruption
    clean: float
    corruptions: Mapping[str, float] = field(default_factory=dict)  # name -> accuracy

    @property
    def mean(self) -> float:
        """Mean accuracy over the corruptions (unweighted, as MNIST-C reports it)."""
        return sum(self.corruptions.values()) / len(self.corruptions)

    def to_dict(self) -> dict[str, Any]:
        return {
            "split": self.split,
            "severity": self.severity,
            "seed": self.seed,
            "count": self.count,
            "clean": self.clean,
            "corruptions": dict(self.corruptions),
            "mean": self.mean,
        }

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> RobustnessResult:
        return cls(
            split=values["split"],
            severity=int(values["severity"]),
            seed=int(values["seed"]),
            count=int(values["count"]),
            clean=float(values["clean"]),
            corruptions={k: float(v) for k, v in values["corruptions"].items()},
        )


def corrupted_splits(
    split: Split,
    corruptions: Sequence[str] | None = None,
    severity: int = DEFAULT_SEVERITY,
    *,
    seed: int = DEFAULT_SEED,
) -> dict[str, Split]:
    """Each named corruption (default: all) of `split`'s images, labels unchanged."""
    names = check_corruptions(corruptions)
    check_severity(severity)
    return {name: Split(corrupt(split.images, name, severity, seed=seed), split.labels) for name in names}


def robustness_on(
    model: nn.Module, clean: Split, corrupted: Mapping[str, Split], *, split: str, severity: int, seed: int
) -> RobustnessResult:
    """Evaluate `model` on a clean split and its precomputed corruptions (to reuse them)."""
    return RobustnessResult(
        split=split,
        severity=severity,
        seed=seed,
        count=len(clean),
        clean=accuracy(model, clean),
        corruptions={name: accuracy(model, s) for name, s in corrupted.items()},
    )


@torch.inference_mode()
def evaluate_robustness(
    model: nn.Module,
    split: Split,
    *,
    split_name: str = "test",
    corruptions: Sequence[str] | None = None,
    severity: int = DEFAULT_SEVERITY,
    seed: int = DEFAULT_SEED,
) -> RobustnessResult:
    """Accuracy of `model` on `split`, clean and under each corruption (default: all)."""
    corrupted = corrupted_splits(split, corruptions, severity, seed=seed)
    return robustness_on(model, split, corrupted, split=split_name, severity=severity, seed=seed)


def write_robustness(run_dir: str | Path, result: RobustnessResult) -> Path:
    """Store `result` atomically as RUN_DIR/robustness.json."""
    path = Path(run_dir) / ROBUSTNESS_FILE
    atomic_write_json(path, result.to_dict())
    return path


def read_robustness(run_dir: str | Path) -> RobustnessResult | None:
    """The stored result of a run, or None when it has none."""
    path = Path(run_dir) / ROBUSTNESS_FILE
    if not path.is_file():
        return None
    return RobustnessResult.from_dict(json.loads(path.read_text(encoding="utf-8")))
