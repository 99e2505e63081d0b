"""Ensembles: average the class probabilities of several trained runs.

Independently seeded models make partly different mistakes, so the mean of their softmax
outputs is right more often than any one of them (the "best" recipe's ~99.6 % models reach
~99.7 % together). Averaging probabilities, not logits, keeps every member on the same scale,
and each member's are calibrated first, softmax(logits / T) with the temperature of its run's
calibration.json, so an over-confident member does not outvote a well-calibrated one. A run
trained before calibration existed counts with T = 1, and the result says which were calibrated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mnistlab.data.splits import Split
from mnistlab.errors import UsageError
from mnistlab.evaluation.metrics import Evaluation, evaluation_from_logits, predict_logits
from mnistlab.runs.calibration import calibration_or_default
from mnistlab.runs.checkpoint import load_model
from mnistlab.runs.dataset import common_dataset_record


@dataclass(frozen=True)
class EnsembleResult:
    """The ensemble's evaluation and each member's own accuracy on the same images."""

    evaluation: Evaluation
    members: tuple[tuple[str, float], ...]  # (run directory, accuracy)
    temperatures: tuple[float, ...]  # per member, as averaged; 1.0 where not calibrated
    calibrated: tuple[bool, ...]  # per member: whether its run has a calibration.json

    @property
    def accuracy(self) -> float:
        return self.evaluation.accuracy

    def to_dict(self) -> dict[str, Any]:
        return {
            "accuracy": self.accuracy,
            "members": [
                {"run_dir": run, "accuracy": acc, "temperature": t, "calibrated": c}
                for (run, acc), t, c in zip(self.members, self.temperatures, self.calibrated, strict=True)
            ],
            "evaluation": self.evaluation.to_dict(),
        }


def mean_probabilities(
    member_logits: Sequence[torch.Tensor], temperatures: Sequence[float] | None = None
) -> torch.Tensor:
    """(N, C) mean of the members' softmax(logits / temperature), from their (N, C) logits;
    every temperature 1 when `temperatures` is None."""
    if not member_logits:
        raise UsageError("An ensemble needs at least one run directory.")
    temperatures = [1.0] * len(member_logits) if temperatures is None else list(temperatures)
    if len(temperatures) != len(member_logits):
        raise ValueError(f"{len(member_logits)} members but {len(temperatures)} temperatures")
    return torch.stack(
        [(logits.float() / t).softmax(dim=1) for logits, t in zip(member_logits, temperatures, strict=True)]
    ).mean(dim=0)


def ensemble_probabilities(
    models: Sequence[nn.Module], images: torch.Tensor, temperatures: Sequence[float] | None = None
) -> torch.Tensor:
    """Mean calibrated class probabilities (N, C) of `models` for uint8 images (N, 28, 28)."""
    return mean_probabilities([predict_logits(model, images).cpu() for model in models], temperatures)


def member_temperature(run_dir: str | Path) -> tuple[float, bool]:
    """The run's temperature and whether it was calibrated (1.0 and False for an older run)."""
    record, note = calibration_or_default(run_dir)
    return float(record["temperature"]), note is None


def evaluate_ensemble(
    run_dirs: Sequence[str | Path], split: Split, *, which: str = "final", device: str | torch.device = "cpu"
) -> EnsembleResult:
    """Load each run's `which` weights and evaluate the mean of their calibrated probabilities
    on `split`.

    Raises UsageError when the runs were trained on different datasets.
    """
    if not run_dirs:
        raise UsageError("An ensemble needs at least one run directory.")
    common_dataset_record(run_dirs)
    member_logits, members, calibration = [], [], []
    for run_dir in run_dirs:
        model, _ = load_model(run_dir, which, device)
        logits = predict_logits(model, split.images).cpu()
        if member_logits and logits.shape != member_logits[0].shape:
            raise UsageError(
                f"{run_dir} predicts {logits.shape[1]} classes but {run_dirs[0]} predicts "
                f"{member_logits[0].shape[1]}; ensemble runs trained on the same dataset."
            )
        member_logits.append(logits)
        members.append((str(run_dir), evaluation_from_logits(logits, split.labels).accuracy))
        calibration.append(member_temperature(run_dir))
    temperatures = tuple(t for t, _ in calibration)
    # log() of the mean probability is a valid logit vector: argmax and confusion work as usual.
    evaluation = evaluation_from_logits(mean_probabilities(member_logits, temperatures).log(), split.labels)
    return EnsembleResult(evaluation, tuple(members), temperatures, tuple(c for _, c in calibration))
