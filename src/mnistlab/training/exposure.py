"""Outlier exposure: training with images that are not of the dataset's classes, pushed to "no idea".

Hendrycks, Mazeika & Dietterich, "Deep Anomaly Detection with Outlier Exposure" (ICLR 2019):
next to each batch of digits the model sees a batch of auxiliary outliers, and a second loss
term pulls its prediction on them towards the uniform distribution,

    loss = CE(digits) + weight * mean over outliers of (logsumexp(z) - mean_c z_c),

which is the cross-entropy between the uniform distribution and softmax(z), less log C. The
model then keeps its confidence (and its energy) for digits, and the abstention rule refuses
what is unlike them, also kinds of outliers it never saw (letters, near-blank images).

The pool is made once per run, as uint8 tensors: the other built-in dataset's *training* split
(Fashion-MNIST's for a digits run, MNIST's for a clothing run; validation and test splits stay
unseen), `TRAIN_SEED`'s images of `data.outliers.TRAINABLE`, and "pairs": two of the run's
own training digits touching, pre-processed as one digit (what a number's reader must not
read as one digit). The `pen_*` sets are `mnistlab.data.negatives`' training families, made
with the training split's fonts, shapes and digits only (kept in the user cache). Each step's
outlier batch is drawn from a generator seeded by (seed, step), so a resumed run draws the same
batches.

Three objectives (`config.outlier_loss`), each a term added to the digits' cross-entropy with a
weight that can rise from 0 over the run (`outlier_weight`), so the network first learns digits:

- "uniform": the outliers' prediction pulled to uniform (above; the entropic open-set loss of
  Dhamija, Günther & Boult, NeurIPS 2018, is the same term).
- "class": the model has one more output, "not a digit", and the outliers are its examples.
- "objectosphere" (Dhamija et al. 2018): "uniform" plus the magnitude of the features the last
  layer reads, pushed to at least `OBJECTOSPHERE_XI` for digits and towards 0 for outliers,
  so an outlier's logits, and its energy, stay small.
"""

from __future__ import annotations

import numpy as np
import torch

from mnistlab.config import OUTLIER_SETS, TrainConfig
from mnistlab.data import outliers
from mnistlab.data.batches import SEED_STRIDE
from mnistlab.data.splits import Dataset, load_dataset, normalize
from mnistlab.training.augment import augment_batch

MADE_PER_SET = 10_000  # images of each made outlier set in the pool
PEN_PER_SET = 6_000  # images of each pen-stroke negative family in the pool (~3 ms each to make)
# Config name -> `mnistlab.data.negatives` family (tested equal to its FAMILIES).
PEN_SETS = {name: name.removeprefix("pen_") for name in OUTLIER_SETS if name.startswith("pen_")}
# The shipped reader's digits have feature norms 5.6 / 10.4 / 15.0 (1st / 50th / 99th percentile of
# 1,000 validation digits), its validation letters 4.6 / 9.5 / 13.6: xi asks every digit for the
# 99th percentile; the weight makes the feature term about as large as the uniform term at the start.
OBJECTOSPHERE_XI = 15.0
OBJECTOSPHERE_WEIGHT = 1e-3


def outlier_pool(
    data: Dataset, sets: tuple[str, ...], data_dir: str | None = None, *, download: bool = True
) -> torch.Tensor:
    """uint8 (M, 28, 28): the named outlier sets, "other" meaning the other built-in dataset."""
    parts = []
    for name in sets:
        if name == "other":
            other = load_dataset(outliers.other_dataset_name(data), data_dir, download=download)
            parts.append(other.train.images)
        elif name in PEN_SETS:
            from mnistlab.data import negatives  # here: Pillow and the fonts load only for these sets

            family = PEN_SETS[name]  # made from the training split's fonts, shapes and digits
            digits = data.train.images if family == "joined_pairs" else None
            parts.append(
                negatives.cached_negatives(family, PEN_PER_SET, split="train", seed=0, digits=digits)
            )
        elif name == "pairs":  # two training digits read as one
            made = digit_pairs(data.train.images.numpy(), MADE_PER_SET, outliers.TRAIN_SEED)
            parts.append(torch.from_numpy(made))
        else:
            if name not in outliers.TRAINABLE:
                raise ValueError(
                    f"outlier set {name!r} is not for training; use: other, {', '.join(outliers.TRAINABLE)}"
                )
            parts.append(outliers.make(name, MADE_PER_SET, outliers.TRAIN_SEED))
    return torch.cat(parts)


def run_pool(
    config: TrainConfig, data: Dataset, given: torch.Tensor | None = None, data_dir: str | None = None
) -> torch.Tensor | None:
    """The run's outlier pool: `given`, or made from `config.outlier_sets` (the other dataset from
    `data_dir`); None without outlier exposure."""
    if config.outlier_exposure == 0:
        return None
    return outlier_pool(data, config.outlier_sets, data_dir) if given is None else given


def digit_pairs(images: np.ndarray, count: int, seed: int) -> np.ndarray:
    """`count` seeded pairs of the given digits (N, 28, 28) uint8, touching or up to 3 px apart and
    up to 2 px out of line, each pre-processed as one digit (20 px box, centre of mass at the
    centre): what a reader sees when two digits are read as one. Outliers for training, so made
    from the training split only."""
    # Here, not at the top: Pillow and the pre-processing load only for a run that trains on pairs.
    from mnistlab.data.layout import centre_digit, clean_ink
    from mnistlab.data.written import SETS, compose, ink_crop

    rng = np.random.default_rng([seed, len(SETS)])  # the stream after those of the number sets
    pairs = np.empty((count, 28, 28), dtype=np.uint8)
    for k in range(count):  # once per run, when the outlier pool is made: not the training loop
        first, second = rng.choice(len(images), size=2, replace=False)
        crops = [ink_crop(np.asarray(images[first])), ink_crop(np.asarray(images[second]))]
        row, _ = compose(crops, rng.integers(-3, 4, size=1), rng.integers(-2, 3, size=2))
        pairs[k] = centre_digit(clean_ink(row.astype(np.float32), "A digit pair", "check the digits"))
    return pairs


def outlier_batch(pool: torch.Tensor, size: int, seed: int, step: int) -> torch.Tensor:
    """`size` images of `pool` for `step`, the same on every run and every resume."""
    g = torch.Generator().manual_seed(seed * SEED_STRIDE + step)
    return pool[torch.randint(0, pool.shape[0], (size,), generator=g).to(pool.device)]


def with_outliers(x: torch.Tensor, pool: torch.Tensor, config: TrainConfig, step: int) -> torch.Tensor:
    """The batch `x` (B, 1, 28, 28) followed by this step's outliers: (B + O, 1, 28, 28) in [0, 1]."""
    size = max(1, round(config.outlier_fraction * x.shape[0]))
    return torch.cat([x, normalize(outlier_batch(pool, size, config.seed, step)).to(x.dtype)])


def uniform_loss(logits: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy from softmax(logits) to the uniform distribution, less log C (>= 0)."""
    return (torch.logsumexp(logits, dim=1) - logits.mean(dim=1)).mean() - torch.log(
        torch.tensor(float(logits.shape[1]), device=logits.device)
    )


def outlier_weight(config: TrainConfig, step: int) -> float:
    """The outlier term's weight at `step`: 0 before `outlier_start` x steps, then rising linearly
    to `outlier_exposure` over `outlier_ramp` x steps."""
    progress = step / config.steps - config.outlier_start  # fractions of the run
    if config.outlier_ramp == 0:
        return config.outlier_exposure if progress >= 0 else 0.0
    return config.outlier_exposure * min(max(progress / config.outlier_ramp, 0.0), 1.0)


class FeatureTap:
    """What the model's last linear layer read at the latest forward pass: (N, F) features."""

    def __init__(self, model: torch.nn.Module) -> None:
        last = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
        last.register_forward_pre_hook(self._keep)
        self.features: torch.Tensor | None = None

    def _keep(self, module: torch.nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        self.features = inputs[0]


def feature_tap(model: torch.nn.Module, config: TrainConfig) -> FeatureTap | None:
    """The tap the objectosphere objective reads; None for the other objectives."""
    return FeatureTap(model) if config.outlier_loss == "objectosphere" else None


def outlier_loss(
    config: TrainConfig, logits: torch.Tensor, features: torch.Tensor | None, digits: int
) -> torch.Tensor:
    """The objective's outlier term for one batch: `logits` (B + O, C) of the B digits then the O
    outliers, `features` (B + O, F) what the last layer read (objectosphere only)."""
    outliers = logits[digits:]  # (O, C)
    if config.outlier_loss == "class":
        target = torch.full((outliers.shape[0],), outliers.shape[1] - 1, device=logits.device)
        return torch.nn.functional.cross_entropy(outliers, target)
    loss = uniform_loss(outliers)
    if config.outlier_loss == "objectosphere":
        norms = features.float().norm(dim=1)  # (B + O,)
        known = torch.relu(OBJECTOSPHERE_XI - norms[:digits]).square().mean()
        unknown = norms[digits:].square().mean()
        loss = loss + OBJECTOSPHERE_WEIGHT * (known + unknown)
    return loss


def step_inputs(
    x: torch.Tensor,
    pool: torch.Tensor | None,
    config: TrainConfig,
    step: int,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """One step's input: the digits `x` (B, 1, 28, 28), then (with a `pool`) this step's outliers,
    each augmented by `config.augmentations` (the outliers too when `config.augment_outliers`)."""
    if generator is None:
        return x if pool is None else with_outliers(x, pool, config, step)
    if pool is not None and config.augment_outliers:  # digits and outliers alike, in one draw
        return augment_batch(with_outliers(x, pool, config, step), config.augmentations, generator)
    x = augment_batch(x, config.augmentations, generator)
    return x if pool is None else with_outliers(x, pool, config, step)


def outlier_term(
    config: TrainConfig, out: torch.Tensor, tap: FeatureTap | None, digits: int, step: int
) -> torch.Tensor:
    """The step's weighted outlier term (`outlier_weight` x `outlier_loss`)."""
    features = None if tap is None else tap.features
    return outlier_weight(config, step) * outlier_loss(config, out, features, digits)
