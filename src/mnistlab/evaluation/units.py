"""Never-firing ReLU units: the "dead neurons" that the paper's positive bias initialisation is meant to avoid.

A unit fires on an image when its ReLU output is positive. Forward hooks on the layers that
feed a ReLU see the pre-activation z, and ReLU(z) > 0 exactly when z > 0, so the model is
used unchanged. A convolution's units are counted per (channel, row, column) position,
since each position has its own receptive field; a channel counts as never firing only when
none of its positions ever fires (a border position can stay silent on MNIST's zero border
while its channel works elsewhere, so both counts are given).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

# The paper CNN's layers whose outputs go through a ReLU (models/cnn.py).
PAPER_CNN_RELU_INPUTS = ("conv1", "conv2", "fc1")


@torch.no_grad()
def never_firing(
    model: nn.Module, images: torch.Tensor, layers: Sequence[str], *, batch_size: int = 1000
) -> dict[str, dict[str, Any]]:
    """For each named layer: how many of its ReLU units never fire on any of `images`.

    Returns {layer: {"units", "never_fire", "fraction"}} plus, for a convolution (4-D
    output), {"channels", "channels_never_fire"}, and a "total" entry over all layers'
    units. The model runs in eval mode (no dropout).
    """
    modules = dict(model.named_modules())
    missing = [name for name in layers if name not in modules]
    if missing:
        raise ValueError(f"model has no layer(s) {', '.join(missing)}")
    fired: dict[str, torch.Tensor] = {}

    def hook(name: str):
        def record(_module: nn.Module, _inputs: Any, output: torch.Tensor) -> None:
            seen = (output > 0).any(dim=0)  # per unit: fired on some image of this batch
            fired[name] = seen if name not in fired else fired[name] | seen

        return record

    handles = [modules[name].register_forward_hook(hook(name)) for name in layers]
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(images), batch_size):
            model(images[start : start + batch_size])
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    counts: dict[str, dict[str, Any]] = {}
    for name in layers:
        seen = fired[name]
        entry: dict[str, Any] = {"units": seen.numel(), "never_fire": int((~seen).sum())}
        if seen.dim() == 3:  # (channels, rows, columns) of a convolution
            entry["channels"] = seen.shape[0]
            entry["channels_never_fire"] = int((~seen.flatten(1).any(dim=1)).sum())
        entry["fraction"] = entry["never_fire"] / entry["units"]
        counts[name] = entry
    units = sum(c["units"] for c in counts.values())
    never = sum(c["never_fire"] for c in counts.values())
    counts["total"] = {"units": units, "never_fire": never, "fraction": never / units}
    return counts
