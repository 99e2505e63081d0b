"""How a model with one more output, "not a digit", is read: as its classes' log-probabilities.

A model trained with the "class" outlier objective (`mnistlab.training.exposure`) has C + 1
outputs, the last one "none of the classes". Everything that reads a model (evaluation, the
calibration, `Reader`, the API and page, the ONNX export) expects C logits, one per class, so such
a model is read through `ClassLogProbabilities`: log softmax over all C + 1 outputs, keeping the
first C. Argmax over them is the most probable class; at temperature 1, logsumexp over them is
log P(one of the classes), so the energy score measures exactly "not a digit"; a temperature
fitted on validation then sharpens or softens them like any model's logits.
"""

from __future__ import annotations

import torch
from torch import nn


class ClassLogProbabilities(nn.Module):
    """`model`'s log-probabilities of its first C outputs, its last being "none of the classes"."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.model(x)  # (N, C + 1)
        log_p = torch.log_softmax(z, dim=1)  # (N, C + 1)
        return log_p[:, :-1]  # (N, C)


def reading_view(model: nn.Module, outputs: int, classes: int) -> nn.Module:
    """`model` as the rest of mnistlab reads it: itself, or with an extra "not one of the
    classes" output (`outputs == classes + 1`), `ClassLogProbabilities` of it."""
    if outputs == classes:
        return model
    if outputs == classes + 1:
        return ClassLogProbabilities(model)
    raise ValueError(f"a model of {outputs} outputs does not read {classes} classes")
