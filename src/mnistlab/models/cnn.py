"""The paper's deep CNN ("Deep MNIST for Experts", TensorFlow 2015)."""

from __future__ import annotations

import torch
from torch import nn


class PaperCNN(nn.Module):
    """conv5x5x32 -> pool -> conv5x5x64 -> pool -> fc1024 -> dropout -> fc10.

    Stride 1 and zero "same" padding (2 px for a 5x5 kernel) keep 28x28 through each
    convolution; each 2x2 max-pool halves it: 28 -> 14 -> 7.
    """

    def __init__(
        self, num_classes: int = 10, dropout: float = 0.5, hidden: int = 1024, bias_init: float = 0.1
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, kernel_size=5, padding=2)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=5, padding=2)
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(7 * 7 * 64, hidden)  # the paper's 1024 units
        self.dropout = nn.Dropout(dropout)  # the paper's keep_prob 0.5
        self.fc2 = nn.Linear(hidden, num_classes)
        for module in (self.conv1, self.conv2, self.fc1, self.fc2):
            # weight_variable: truncated normal, stddev 0.1, resampled beyond 2 std.
            nn.init.trunc_normal_(module.weight, std=0.1, a=-0.2, b=0.2)
            # bias_variable: "slightly positive initial bias to avoid dead neurons".
            nn.init.constant_(module.bias, bias_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)  # (N, 32, 28, 28)
        x = torch.relu(x)
        x = self.pool(x)  # (N, 32, 14, 14)
        x = self.conv2(x)  # (N, 64, 14, 14)
        x = torch.relu(x)
        x = self.pool(x)  # (N, 64, 7, 7)
        x = x.flatten(1)  # (N, 3136)
        x = self.fc1(x)  # (N, hidden)
        x = torch.relu(x)
        x = self.dropout(x)  # (N, hidden), zeroes half in training only
        return self.fc2(x)  # (N, 10) logits


def cnn(num_classes: int = 10, dropout: float = 0.5, hidden: int = 1024, bias_init: float = 0.1) -> PaperCNN:
    return PaperCNN(num_classes=num_classes, dropout=dropout, hidden=hidden, bias_init=bias_init)
