"""Training FLOPs to accuracy: what a recipe spends, counted, to reach a test-accuracy target.

A target names the recipe (and the `--steps` of its schedule) meant to reach it. Its cost is
counted with `torch.utils.flop_counter.FlopCounterMode` (`roofline.training_flops_per_image`:
forward, loss and backward of one batch, divided by the batch size) times the training images
the schedule sees (steps x batch size), the number the issue's "0.62 TFLOP to 99.0 %" is made
of. Beside it, what evaluating costs: the forward FLOPs per image times the validation images
of every validation pass the schedule makes, and times the test split once. Only matmuls and
convolutions count (2 FLOPs per multiply-add): batch-norm, pooling, activations and the
optimizer are free here. Whether the target is reached is measured, not counted: the bench's
time-to-accuracy runs (`accuracy.time_to_accuracy`) train each target's recipe once per seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from mnistlab.bench.roofline import training_flops_per_image
from mnistlab.config import TrainConfig, resolve_config
from mnistlab.models import create_model


@dataclass(frozen=True)
class Target:
    """A test-accuracy target and the recipe (with its `--steps`; None: the recipe's own) aimed at it."""

    accuracy: float
    recipe: str
    steps: int | None = None
    task: str = "cnn"

    def config(self) -> TrainConfig:
        # As the timed child runs it: `--steps` only, the recipe's own eval_every.
        return resolve_config(self.task, self.recipe, overrides={"steps": self.steps})

    def label(self) -> str:
        return self.recipe + (f" --steps {self.steps}" if self.steps is not None else "")


# Old and new side by side: the fast recipe (its one-epoch schedule for 99.0 %, the whole one
# for 99.27 %) and the sprint recipes found for issue 25 (docs/studies/sprint*).
TARGETS: tuple[Target, ...] = (
    Target(0.990, "fast", 215),
    Target(0.990, "sprint"),
    Target(0.9927, "fast"),
    Target(0.9927, "sprint_long"),
)


def forward_flops_per_image(model: nn.Module, *, batch_size: int = 16, image_shape=(1, 28, 28)) -> float:
    """FLOPs of one evaluation forward pass per image (eval mode, no gradients)."""
    x = torch.rand(batch_size, *image_shape, generator=torch.Generator().manual_seed(0))
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return counter.get_total_flops() / batch_size


def validation_passes(steps: int, eval_every: int) -> int:
    """How many times the training loop validates: every `eval_every` steps and after the last."""
    return steps // eval_every + (1 if steps % eval_every else 0)


def run_flops(config: TrainConfig, *, val_images: int, test_images: int) -> dict[str, Any]:
    """The FLOPs of training `config` once, of its validation passes and of one test pass."""
    model = create_model(config.model, **config.model_options)
    per_image = training_flops_per_image(model, batch_size=16)
    forward = forward_flops_per_image(model)
    images = config.steps * config.batch_size
    passes = validation_passes(config.steps, config.eval_every)
    out = {
        "model": config.model,
        "training_flops_per_image": per_image,
        "forward_flops_per_image": forward,
        "images_seen": images,
        "training_flops": per_image * images,
        "validation_passes": passes,
        "validation_flops": forward * val_images * passes,
        "test_flops": forward * test_images,
    }
    out["total_flops"] = out["training_flops"] + out["validation_flops"] + out["test_flops"]
    return out


def flops_to_accuracy(
    targets: tuple[Target, ...], *, val_images: int, test_images: int
) -> list[dict[str, Any]]:
    """One record per target: its recipe and the counted FLOPs of one run (`run_flops`)."""
    return [
        {
            "target": t.accuracy,
            "recipe": t.recipe,
            "steps": t.steps,
            "label": t.label(),
            **run_flops(t.config(), val_images=val_images, test_images=test_images),
        }
        for t in targets
    ]


def attach_reached(flops: list[dict[str, Any]], timed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The FLOP records with each target's measured test accuracy and seeds reaching it, where timed."""
    by_key = {(r["target"], r["recipe"], r["steps"]): r for r in timed}
    out = []
    for row in flops:
        run = by_key.get((row["target"], row["recipe"], row["steps"]))
        if run is not None:
            row = {**row, "test_accuracy": run["test_accuracy"], "reached": run["reached"]}
            row["seeds"] = len(run["runs"])
        out.append(row)
    return out
