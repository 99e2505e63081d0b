"""Softmax regression, the paper's first model: y = softmax(Wx + b)."""

from __future__ import annotations

import torch
from torch import nn


class SoftmaxRegression(nn.Module):
    """A single linear layer; the softmax lives in the loss (cross-entropy from logits).

    W and b start at zero, as in the paper: the loss is convex, so no symmetry needs
    breaking. `weight[c]` reshaped to 28x28 is the evidence map of class c (Figure 3).
    """

    def __init__(self, num_inputs: int = 784, num_classes: int = 10) -> None:
        super().__init__()
        self.linear = nn.Linear(num_inputs, num_classes)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)  # (N, 1, 28, 28) or (N, 784) -> (N, 784)
        return self.linear(x)  # (N, 10) logits


def softmax(num_classes: int = 10) -> SoftmaxRegression:
    return SoftmaxRegression(num_classes=num_classes)
