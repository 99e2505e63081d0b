"""`cnn_unpadded`, for few training FLOPs to 99 % (the `sprint` recipe): unpadded convolutions, two pools.

After tuomaso/train_mnist_fast (conv5x5 1->24, pool, ReLU, conv3x3 24->32, pool, ReLU,
fc 800->256->10): its convolutions are unpadded, so the second one runs on 12x12 -> 10x10
instead of the fast CNN's padded 14x14 and 7x7 blocks, and the dense head is small. Here a
batch-norm follows each pool (pool first, as in the fast CNN: a quarter of the values), which
lets one-cycle SGD take a large learning rate; FlopCounterMode counts convolutions and matmuls
only, so the batch-norms are free in the FLOP count (`mnistlab bench`'s FLOPs-to-accuracy row).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class SprintCNN(nn.Module):
    """conv(kernel) 1->w1, pool, BN, ReLU; conv3x3 w1->w2, pool, BN, ReLU; fc -> hidden -> classes.

    28 -> 24 (5x5) -> 12 -> 10 -> 5: the head sees w2 * 5 * 5 features. `hidden=0` drops the
    hidden layer (a linear head on the features).
    """

    def __init__(
        self,
        widths: Sequence[int] = (24, 32),
        hidden: int = 256,
        kernel: int = 5,
        num_classes: int = 10,
    ) -> None:
        super().__init__()
        w1, w2 = widths
        side = ((28 - kernel + 1) // 2 - 2) // 2
        self.features = nn.Sequential(
            nn.Conv2d(1, w1, kernel, bias=False),
            nn.MaxPool2d(2),
            nn.BatchNorm2d(w1),
            nn.ReLU(inplace=True),
            nn.Conv2d(w1, w2, 3, bias=False),
            nn.MaxPool2d(2),
            nn.BatchNorm2d(w2),
            nn.ReLU(inplace=True),
        )
        features = w2 * side * side
        if hidden:
            self.head: nn.Module = nn.Sequential(
                nn.Linear(features, hidden, bias=False),
                nn.BatchNorm1d(hidden),
                nn.ReLU(inplace=True),
                nn.Linear(hidden, num_classes),
            )
        else:
            self.head = nn.Linear(features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))  # (N, num_classes) logits


def cnn_unpadded(
    num_classes: int = 10, widths: Sequence[int] = (24, 32), hidden: int = 256, kernel: int = 5
) -> SprintCNN:
    return SprintCNN(widths=tuple(widths), hidden=hidden, kernel=kernel, num_classes=num_classes)
