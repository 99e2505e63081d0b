"""The usual PyTorch way to train on MNIST, as the benchmark's reference pipeline.

This is what most tutorials write: a per-sample `Dataset` that turns each uint8 image into
a normalised float tensor, a `DataLoader` that shuffles and collates them into batches, and
an optimizer built with its defaults. On a GPU the model lives there and each batch the
loader collates in host memory is moved to it, step by step. Same model, same optimizer,
same batch size and the same input scale as mnistlab's engine, so the two differ only in
how they run.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset

from mnistlab.bench.timing import synchronize
from mnistlab.config import TrainConfig
from mnistlab.data.splits import Split
from mnistlab.models import create_model
from mnistlab.runtime import autocast


class MnistSamples(TorchDataset):
    """One (image, label) pair at a time: float32 (1, 28, 28) in [0, 1] and an int64 label.

    The arrays are kept in host memory, where a tutorial's dataset lives, whatever device
    `split` is on.
    """

    def __init__(self, split: Split) -> None:
        self.images = split.images.cpu().numpy()
        self.labels = split.labels.cpu().numpy()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = torch.from_numpy(self.images[index]).to(torch.float32).div(255.0).unsqueeze(0)
        return image, int(self.labels[index])


def reference_loader(split: Split, batch_size: int, seed: int) -> DataLoader:
    """A shuffling DataLoader over `split` in the main process (the default num_workers=0)."""
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(MnistSamples(split), batch_size=batch_size, shuffle=True, generator=generator)


def reference_optimizer(config: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    """The config's optimizer with torch's default implementation choices."""
    if config.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(
        model.parameters(),
        lr=config.lr,
        momentum=config.momentum,
        nesterov=config.optimizer == "nesterov",
        weight_decay=config.weight_decay,
    )


def reference_loss(
    model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor], config: TrainConfig
) -> torch.Tensor:
    images, labels = batch
    return F.cross_entropy(model(images), labels, label_smoothing=config.label_smoothing)


def train_reference(
    config: TrainConfig,
    split: Split,
    *,
    interval: int,
    intervals: int,
    device: torch.device | str = "cpu",
    on_interval: Callable[[int, float], None] | None = None,
) -> list[float]:
    """Train `config.model` the usual way on `device` for `intervals` x `interval` steps.

    Returns the wall seconds of each interval of `interval` steps (the caller drops the
    warm-up ones); `on_interval(index, seconds)` is called after each.
    """
    device = torch.device(device)
    torch.manual_seed(config.seed)
    model = create_model(config.model, **config.model_options).to(device)
    model.train()
    optimizer = reference_optimizer(config, model)
    # fp16 needs loss scaling, as in torch's AMP recipe and in the engine.
    scaler = torch.amp.GradScaler(device.type, enabled=config.precision == "fp16")
    loader = reference_loader(split, config.batch_size, config.seed)
    seconds: list[float] = []
    synchronize(device)
    step, t0 = 0, time.perf_counter()
    while len(seconds) < intervals:
        for images, labels in loader:
            batch = images.to(device), labels.to(device)
            with autocast(config.precision, device):  # the engine's autocast, so both differ only in the loop
                loss = reference_loss(model, batch, config)
            optimizer.zero_grad()
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            step += 1
            if step % interval == 0:
                synchronize(device)
                now = time.perf_counter()
                seconds.append(now - t0)
                if on_interval is not None:
                    on_interval(len(seconds) - 1, seconds[-1])
                t0 = now
                if len(seconds) == intervals:
                    break
    return seconds
