"""Accuracy by argmax, per-class accuracy and the confusion matrix, computed in batches.

The logits come from `mnistlab.reader.prediction.predict_logits`: batches under inference mode.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mnistlab.data.splits import Split
from mnistlab.reader.prediction import EVAL_BATCH_SIZE, predict_logits


def confusion_matrix(predictions: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(C, C) int64 counts; row = true class, column = predicted class."""
    flat = labels.to(torch.int64) * num_classes + predictions.to(torch.int64)
    return torch.bincount(flat, minlength=num_classes * num_classes).view(num_classes, num_classes)


@dataclass(frozen=True)
class Evaluation:
    """What one pass over a split found. Accuracies are fractions in [0, 1]."""

    accuracy: float
    per_class_accuracy: tuple[float, ...]
    confusion: tuple[tuple[int, ...], ...]  # rows: true class, columns: predicted class
    count: int

    @property
    def errors(self) -> int:
        return self.count - sum(self.confusion[c][c] for c in range(len(self.confusion)))

    def to_dict(self) -> dict:
        return {
            "accuracy": self.accuracy,
            "per_class_accuracy": list(self.per_class_accuracy),
            "confusion": [list(row) for row in self.confusion],
            "count": self.count,
            "errors": self.errors,
        }


def evaluation_from_confusion(confusion: torch.Tensor) -> Evaluation:
    """An Evaluation from (C, C) int64 counts (rows: true class, columns: predicted).

    Every number is derived from the counts, so counts summed over shards of a split (one
    per process, see `mnistlab.training.strategy`) give the Evaluation of the whole split.
    """
    count = int(confusion.sum())
    per_class = confusion.diagonal().double() / confusion.sum(dim=1).clamp(min=1).double()
    return Evaluation(
        accuracy=float(confusion.diagonal().sum()) / max(count, 1),
        per_class_accuracy=tuple(per_class.tolist()),
        confusion=tuple(tuple(row) for row in confusion.tolist()),
        count=count,
    )


def evaluation_from_logits(logits: torch.Tensor, labels: torch.Tensor) -> Evaluation:
    """An Evaluation from logits (N, C) and labels (N,), through their confusion counts."""
    predictions = logits.argmax(dim=1).cpu()
    return evaluation_from_confusion(confusion_matrix(predictions, labels.cpu(), logits.shape[1]))


def confusion_counts(
    model: nn.Module, split: Split, *, shard: int = 0, shards: int = 1, batch_size: int = EVAL_BATCH_SIZE
) -> torch.Tensor:
    """(C, C) int64 counts of `model` on samples shard, shard + shards, ... of `split` (all by
    default): the shards' counts sum to the whole split's."""
    logits = predict_logits(model, split.images[shard::shards], batch_size=batch_size)
    return confusion_matrix(logits.argmax(dim=1).cpu(), split.labels[shard::shards].cpu(), logits.shape[1])


def evaluate(model: nn.Module, split: Split, *, batch_size: int = EVAL_BATCH_SIZE) -> Evaluation:
    """Evaluate `model` on every image of `split`."""
    return evaluation_from_confusion(confusion_counts(model, split, batch_size=batch_size))


@torch.inference_mode()
def accuracy(model: nn.Module, split: Split, *, batch_size: int = EVAL_BATCH_SIZE) -> float:
    """Fraction of `split` whose argmax prediction equals the label (the paper's metric)."""
    logits = predict_logits(model, split.images, batch_size=batch_size)
    return float((logits.argmax(dim=1).cpu() == split.labels.cpu()).double().mean())
