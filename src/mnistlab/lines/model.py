"""The line reader's network: a small CNN over a line (height 32, any width) giving per-column
log-probabilities over blank, the ten digits and "not a digit" (CTC's outputs).

It holds no I/O. It lives here, not in `mnistlab.models.registry`, whose models all map a
28x28 digit to class logits (and whose tests and `train` command take every registered model
as one): its input is `mnistlab.lines.preprocess`'s (N, 1, 32, W) line.
"""

from __future__ import annotations

import torch
from torch import nn

CLASSES = 12  # 0 = CTC blank, 1..10 = digits "0".."9", 11 = "not a digit"
STRIDE = 4  # input columns per output column: T = W // 4 (two 2x2 poolings, floored)


def _block(cin: int, cout: int, pool: tuple[int, int] | None) -> list[nn.Module]:
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(),
    ]
    return [*layers, nn.MaxPool2d(pool)] if pool else layers


class LineCNN(nn.Module):
    def __init__(self, channels: tuple[int, ...] = (32, 48, 64, 96, 96), hidden: int = 128) -> None:
        super().__init__()
        pools = [(2, 2), (2, 2), (2, 1), (2, 1), None]  # height 32 -> 2, width / 4
        layers, cin = [], 1
        for cout, pool in zip(channels, pools, strict=True):
            layers += _block(cin, cout, pool)
            cin = cout
        self.features = nn.Sequential(*layers)
        self.columns = nn.Sequential(  # context along the line: 5 columns = 20 input px
            nn.Conv1d(cin, hidden, 5, padding=2, bias=False),
            nn.BatchNorm1d(hidden),
            nn.ReLU(),
            nn.Conv1d(hidden, hidden, 3, padding=1, bias=False),
            nn.BatchNorm1d(hidden),
            nn.ReLU(),
        )
        self.classify = nn.Conv1d(hidden, CLASSES, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)  # (N, C, 2, W // 4)
        x = x.amax(dim=2)  # (N, C, T): the strongest response of each column, T = W // 4
        x = self.columns(x)  # (N, hidden, T)
        x = self.classify(x)  # (N, 12, T)
        return torch.log_softmax(x.transpose(1, 2), dim=2)  # (N, T, 12)


def line_cnn(**options) -> LineCNN:
    return LineCNN(**options)
