"""`cnn_bn_ink` (the `robust` recipe's CNN): `cnn_bn`, reading ink relative to the digit's strongest.

Batch-norm fixes each channel's scale at training time, so a digit written in faint ink
(all intensities times c < 1) reaches the ReLUs far below the learned means and the fast
CNN reads 14 % of low-contrast test digits correctly (`mnistlab evaluate --robustness`).
Dividing each image by its own maximum first, as MNIST's preparation and `mnistlab.inference.digits`
do (strongest ink -> 255), makes the model blind to that scale at no cost.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from mnistlab.models.fast import FastCNN

# Below this peak (of 1.0) an image counts as blank and is left as it is, not amplified.
MIN_PEAK = 0.05


class InkNormalizedCNN(FastCNN):
    """`FastCNN` whose input is divided by each image's maximum intensity."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        peak = x.amax(dim=(1, 2, 3), keepdim=True).clamp_min(MIN_PEAK)
        return super().forward(x / peak)


def cnn_bn_ink(
    num_classes: int = 10, widths: Sequence[int] = (16, 32, 64), depth: int = 1, dropout: float = 0.0
) -> InkNormalizedCNN:
    return InkNormalizedCNN(widths=tuple(widths), depth=depth, dropout=dropout, num_classes=num_classes)
