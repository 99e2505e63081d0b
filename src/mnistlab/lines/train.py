"""Training the line reader with CTC on freshly made lines, and its calibration on validation.

`train_lines(LineConfig(), line_data(dataset))` is the recipe: every step makes its own batch
of lines (`make.make_lines`, seeded by the config's seed and the step) from the training
digits and the training negatives (letters and doodles of the training fonts and shapes), so
no line is seen twice. `calibrate` then fits the temperature and the abstention threshold on
lines made from the validation digits only. Nothing here prints.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from mnistlab.errors import ImageError
from mnistlab.lines import decode
from mnistlab.lines.make import Lines, LineStyle, line_image, make_lines
from mnistlab.lines.model import STRIDE, LineCNN
from mnistlab.lines.preprocess import line_batch, preprocess_line

VAL_SEED = 1_000_003  # the validation lines' seed (the training stream uses seed * 1,000,003 + step)
NEGATIVES_PER_FAMILY = 6_000  # training letters and doodles each (the digit reader's pool size)


@dataclass(frozen=True)
class LineConfig:
    """The line reader's recipe; the defaults are what shipped."""

    steps: int = 4500
    batch: int = 64  # lines per step
    lr: float = 3e-3  # one-cycle peak
    weight_decay: float = 1e-4
    warmup: float = 0.15  # of the steps
    channels: tuple[int, ...] = (24, 48, 64, 96, 96)
    hidden: int = 128
    seed: int = 0
    style: LineStyle = field(default_factory=lambda: LineStyle(negative_rate=0.1))
    val_lines: int = 1000  # validation lines for calibration (and val_lines // 2 single digits)


@dataclass(frozen=True)
class LineData:
    train_images: torch.Tensor  # (N, 28, 28) uint8
    train_labels: torch.Tensor
    val_images: torch.Tensor
    val_labels: torch.Tensor
    train_negatives: torch.Tensor  # (M, 28, 28) uint8
    val_negatives: torch.Tensor


@dataclass(frozen=True)
class LineTrainResult:
    model: LineCNN
    losses: list[float]  # per step
    seconds: float  # training steps only


def line_data(dataset) -> LineData:
    """The dataset's digits and each split's letters and doodles (`data.negatives`, cached)."""
    from mnistlab.data import negatives

    def negs(split: str, n: int) -> torch.Tensor:
        return torch.cat(
            [negatives.cached_negatives(f, n, split=split, seed=0) for f in ("letters", "doodles")]
        )

    return LineData(
        dataset.train.images,
        dataset.train.labels,
        dataset.val.images,
        dataset.val.labels,
        negs("train", NEGATIVES_PER_FAMILY),
        negs("val", 1000),
    )


def ctc(log_probs: torch.Tensor, widths: torch.Tensor, lines: Lines) -> torch.Tensor:
    """Mean CTC loss of a batch, (N, T, 12) log-probabilities, each line's own T = width // 4."""
    return F.ctc_loss(
        log_probs.transpose(0, 1),
        lines.targets,
        widths // STRIDE,
        lines.lengths,
        blank=decode.BLANK,
        zero_infinity=True,  # a line too narrow for its symbols (rare: eight 1s overlapping) adds nothing
    )


def train_lines(
    config: LineConfig, data: LineData, *, on_step: Callable[[int, float], None] | None = None
) -> LineTrainResult:
    """The recipe's model, trained; `on_step(step, loss)` after each step."""
    torch.manual_seed(config.seed)
    model = LineCNN(config.channels, config.hidden)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=config.lr, total_steps=config.steps, pct_start=config.warmup
    )
    losses, start = [], time.perf_counter()
    model.train()
    for step in range(config.steps):
        lines = make_lines(
            data.train_images,
            data.train_labels,
            config.batch,
            config.seed * VAL_SEED + step,
            config.style,
            data.train_negatives,
        )
        x, widths = line_batch(lines.raw)
        loss = ctc(model(x[:, None]), widths, lines)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        schedule.step()
        losses.append(float(loss.detach()))
        if on_step is not None:
            on_step(step, losses[-1])
    model.eval()
    return LineTrainResult(model, losses, time.perf_counter() - start)


@torch.no_grad()
def line_log_probs(model: torch.nn.Module, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """Each pre-processed line (32, W) read on its own: (T, 12) float32 log-probabilities."""
    model.eval()
    return [model(torch.from_numpy(x)[None, None])[0].numpy() for x in inputs]


def read_made(model: torch.nn.Module, lines: Lines) -> list[np.ndarray | None]:
    """Each made line pre-processed as a person's ink is and read; None where pre-processing
    refuses it (several rows of writing)."""
    out: list[np.ndarray | None] = []
    for i in range(len(lines.lengths)):
        try:
            x = preprocess_line(line_image(lines, i).numpy())
        except ImageError:
            out.append(None)
            continue
        out.append(line_log_probs(model, [x])[0])
    return out


def validation_lines(data: LineData, count: int, seed: int = VAL_SEED, **style: object) -> Lines:
    """Seeded clean lines (no negatives) of validation digits, the recipe's style otherwise."""
    return make_lines(data.val_images, data.val_labels, count, seed, LineStyle(**style))


def calibrate(model: torch.nn.Module, data: LineData, count: int = 1000) -> dict:
    """The temperature (minimising the CTC loss of validation lines) and the threshold (the 1 %
    quantile of the rule's score on clean validation lines and on validation single digits,
    the lower of the two), and what they give on those lines."""
    lines = validation_lines(data, count)
    singles = validation_lines(data, count // 2, VAL_SEED + 1, min_symbols=1, max_symbols=1)
    lps, single_lps = read_made(model, lines), read_made(model, singles)
    kept = [i for i, lp in enumerate(lps) if lp is not None]
    padded = torch.nn.utils.rnn.pad_sequence([torch.from_numpy(lps[i]) for i in kept])  # (T, N, 12)
    t_lens = torch.tensor([len(lps[i]) for i in kept])
    losses = {}
    for temperature in np.round(np.arange(0.5, 3.01, 0.05), 2):
        lp = torch.log_softmax(padded / float(temperature), dim=2)
        losses[float(temperature)] = float(
            F.ctc_loss(
                lp, lines.targets[kept], t_lens, lines.lengths[kept], zero_infinity=True, reduction="sum"
            )
        )
    temperature = min(losses, key=losses.get)

    def symbols(lp: np.ndarray | None) -> list[decode.Symbol]:
        return [] if lp is None else decode.greedy(lp, temperature)

    line_scores = np.array([decode.score(symbols(lp)) for lp in lps])
    single_scores = np.array([decode.score(symbols(lp)) for lp in single_lps])
    threshold = float(min(np.quantile(line_scores, 0.01), np.quantile(single_scores, 0.01)))

    def exact(lps_: list[np.ndarray | None], made: Lines) -> float:
        read = [decode.decision(symbols(lp), threshold)[0] for lp in lps_]
        return float(np.mean([r == made.truth(i) for i, r in enumerate(read)]))

    return {
        "temperature": temperature,
        "rule": {"score": decode.SCORE, "threshold": threshold},
        "validation": {
            "lines": count,
            "singles": len(singles.lengths),
            "line_exact": exact(lps, lines),
            "single_right": exact(single_lps, singles),
            "line_refused": float(np.mean(line_scores < threshold)),
            "single_refused": float(np.mean(single_scores < threshold)),
            "ctc_nll_per_line": losses[temperature] / len(kept),
        },
    }
