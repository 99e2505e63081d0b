"""The model's answer for pre-processed 28x28 images: logits in batches, and class probabilities.

Works for any dataset's classes (digits or Fashion-MNIST's clothing): the labels are class
indices, named by the caller from the run's dataset. The paper's tutorial fed all 10,000 test
images through the network as one tensor, which runs out of memory on small GPUs; here the
logits come in batches under inference mode.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from mnistlab.data.splits import SIDE, normalize

EVAL_BATCH_SIZE = 1000


@torch.inference_mode()
def predict_logits(
    model: nn.Module, images: torch.Tensor, *, batch_size: int = EVAL_BATCH_SIZE
) -> torch.Tensor:
    """Logits (N, C) for uint8 images (N, 28, 28), on the model's device, in eval mode."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    chunks = [
        model(normalize(images[i : i + batch_size].to(device))) for i in range(0, images.shape[0], batch_size)
    ]
    model.train(was_training)
    return torch.cat(chunks)


@dataclass(frozen=True)
class Prediction:
    """A model's class probabilities for one image."""

    probabilities: tuple[float, ...]  # one per class, summing to 1

    @property
    def label(self) -> int:
        """The most probable class (the lowest index on a tie)."""
        return max(range(len(self.probabilities)), key=lambda c: (self.probabilities[c], -c))

    def top(self, k: int = 3) -> list[tuple[int, float]]:
        """The k most probable (class, probability) pairs, most probable first."""
        order = sorted(range(len(self.probabilities)), key=lambda c: (-self.probabilities[c], c))
        return [(c, self.probabilities[c]) for c in order[:k]]


def image_logits(model: nn.Module, images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Logits (N, C) on the CPU for pre-processed images (N, 28, 28) uint8, batched on the model's device."""
    images = torch.as_tensor(np.asarray(images) if not isinstance(images, torch.Tensor) else images)
    if images.ndim != 3 or tuple(images.shape[1:]) != (SIDE, SIDE) or images.dtype != torch.uint8:
        raise ValueError(
            f"images must be uint8 of shape (N, {SIDE}, {SIDE}), got {images.dtype} {tuple(images.shape)}"
        )
    if images.shape[0] == 0:
        return torch.zeros(0, 0)
    return predict_logits(model, images).cpu()  # eval mode, inference mode, batches of 1,000


def predictions(logits: torch.Tensor, temperature: float = 1.0) -> list[Prediction]:
    """softmax(logits / temperature) per image, in float64."""
    probabilities = torch.softmax(logits.to(torch.float64) / temperature, dim=1).tolist()
    return [Prediction(tuple(row)) for row in probabilities]


def classify(
    model: nn.Module, images: np.ndarray | torch.Tensor, *, temperature: float = 1.0
) -> list[Prediction]:
    """Probabilities for pre-processed images (N, 28, 28) uint8; `temperature` from the run's calibration."""
    return predictions(image_logits(model, images), temperature)
