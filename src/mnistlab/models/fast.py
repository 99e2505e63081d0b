"""Small batch-norm CNNs, `cnn_bn` and `cnn_bn_deep` (the "fast" and "best" recipes'): beyond the paper, on a CPU.

The paper's CNN spends ~14 M multiply-adds per image, most of them in a 5x5 convolution
over 32 channels and a 3136x1024 dense layer. Three 3x3 conv-BN-ReLU-pool blocks reach
higher accuracy with a fraction of that, and batch-norm lets a one-cycle schedule use a
large learning rate, so a few epochs suffice (`mnistlab bench` measures the result).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def conv_bn(c_in: int, c_out: int) -> list[nn.Module]:
    # No conv bias: the batch-norm shift that follows makes it redundant.
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


class FastCNN(nn.Module):
    """Three blocks, each conv3x3 -> 2x2 max-pool -> BN -> ReLU (28 -> 14 -> 7 -> 3), then a linear head.

    `widths` are the channels of the blocks; `depth=2` puts a conv3x3-BN-ReLU before the
    pooled convolution of the second and third blocks (the "best" model); `dropout` acts
    on the flattened features.
    """

    def __init__(
        self,
        widths: Sequence[int] = (16, 32, 64),
        depth: int = 1,
        dropout: float = 0.0,
        num_classes: int = 10,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 1
        for block, width in enumerate(widths):
            # The first block sees one input channel at full resolution, where a second
            # convolution would cost the most and add the least.
            for _ in range(depth - 1 if block else 0):
                layers += conv_bn(c_in, width)
                c_in = width
            # Pool before batch-norm and ReLU (as in hlb-CIFAR10): they then touch a quarter
            # of the values; +25-50 % training images/s measured for these widths on a CPU.
            layers += [
                nn.Conv2d(c_in, width, 3, padding=1, bias=False),
                nn.MaxPool2d(2),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
            ]
            c_in = width
        self.features = nn.Sequential(*layers)
        side = 28 // 2 ** len(widths)  # floor at each pool: 28 -> 14 -> 7 -> 3
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(c_in * side * side, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)  # (N, widths[-1], 3, 3)
        x = x.flatten(1)  # (N, widths[-1] * 9)
        x = self.dropout(x)  # training only
        return self.head(x)  # (N, num_classes) logits


def cnn_bn(num_classes: int = 10, widths: Sequence[int] = (16, 32, 64), dropout: float = 0.0) -> FastCNN:
    return FastCNN(widths=tuple(widths), depth=1, dropout=dropout, num_classes=num_classes)


def cnn_bn_deep(
    num_classes: int = 10, widths: Sequence[int] = (32, 64, 128), dropout: float = 0.2
) -> FastCNN:
    return FastCNN(widths=tuple(widths), depth=2, dropout=dropout, num_classes=num_classes)
