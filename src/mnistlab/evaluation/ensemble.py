"""Ensembles: average the class probabilities of several trained runs.

Independently seeded models make partly different mistakes, so the mean of their softmax
outputs is right more often than any one of them (the "best" recipe's ~99.6 % models reach
~99.7 % together). Averaging probabilities, not logits, keeps every member on the same scale,
and each member's are calibrated first, softmax(logits / T) with the temperature of its run's
calibration.json, so an over-confident member does not outvote a well-calibrated one. A run
trained before calibration existed counts with T = 1, and the result says which were calibrated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mnistlab.data.splits import Split
from mnistlab.errors import UsageError
from mnistlab.evaluation.metrics import Evaluation, evaluation_from_logits
from mnistlab.reader.calibration import calibration_or_default
from mnistlab.reader.prediction import predict_logits
from mnistlab.runs.checkpoint import load_model
from mnistlab.runs.dataset import common_dataset_record


@dataclass(frozen=True)
class EnsembleResult:
    """The ensemble's evaluation and each member's own accuracy on the same images."""

    evaluation: Evaluation
    members: tuple[tuple[str, float], ...]  # (run directory, accuracy)
    temperatures: tuple[float, ...]  # per member, as averaged; 1.0 where not calibrated
    calibrated: tuple[bool, ...]  # per member: whether its run has a calibration.json
    agreement: Agreement
    # With selection: every candidate run and its accuracy on the split it was chosen on.
    candidates: tuple[tuple[str, float], ...] = ()

    @property
    def accuracy(self) -> float:
        return self.evaluation.accuracy

    def to_dict(self) -> dict[str, Any]:
        return {
            "accuracy": self.accuracy,
            "members": [
                {"run_dir": run, "accuracy": acc, "temperature": t, "calibrated": c}
                for (run, acc), t, c in zip(self.members, self.temperatures, self.calibrated, strict=True)
            ],
            "agreement": self.agreement.to_dict(),
            "candidates": [{"run_dir": run, "accuracy": acc} for run, acc in self.candidates],
            "evaluation": self.evaluation.to_dict(),
        }


@dataclass(frozen=True)
class Agreement:
    """How often the members' answers (argmax) differ, on the images evaluated."""

    disagree: int  # images where not every member gives the same answer
    committee_right_there: int  # of those, the committee's answer is right
    count: int  # images
    pairwise: tuple[tuple[float, ...], ...]  # share of images members i and j answer differently

    def to_dict(self) -> dict[str, Any]:
        return {
            "disagree": self.disagree,
            "disagree_share": self.disagree / self.count if self.count else 0.0,
            "committee_right_where_members_disagree": self.committee_right_there,
            "count": self.count,
            "pairwise_disagreement": [list(row) for row in self.pairwise],
        }


def agreement(
    member_logits: Sequence[torch.Tensor], committee: torch.Tensor, labels: torch.Tensor
) -> Agreement:
    """Disagreement of (N, C) member logits and where the (N, C) committee output is right then."""
    answers = torch.stack([logits.argmax(dim=1) for logits in member_logits])  # (M, N)
    split = (answers != answers[0]).any(dim=0)  # (N,) not unanimous
    right = committee.argmax(dim=1) == labels.to(committee.device)
    pairwise = (answers[:, None, :] != answers[None, :, :]).double().mean(dim=2)  # (M, M)
    return Agreement(
        disagree=int(split.sum()),
        committee_right_there=int((split & right).sum()),
        count=int(labels.numel()),
        pairwise=tuple(tuple(round(float(v), 6) for v in row) for row in pairwise),
    )


def select_members(
    member_logits: Sequence[torch.Tensor], labels: torch.Tensor, temperatures: Sequence[float]
) -> list[int]:
    """Indices of a committee chosen greedily on (validation) logits: start from the member of
    lowest NLL, then add the one that lowers the committee's NLL most, while one does.

    The NLL of the mean calibrated probability, not accuracy: on 5,000 images accuracy moves
    in steps of 0.02 points and ties everywhere, while the NLL sees every image's confidence.
    Without replacement, so every chosen member weighs the same.
    """
    probabilities = [
        (z.double() / t).softmax(dim=1) for z, t in zip(member_logits, temperatures, strict=True)
    ]
    labels = labels.long()

    def nll(chosen: list[int]) -> float:
        mean = torch.stack([probabilities[i] for i in chosen]).mean(dim=0)
        return float(-mean.gather(1, labels[:, None]).clamp_min(1e-300).log().mean())

    chosen: list[int] = []
    best = float("inf")
    while len(chosen) < len(probabilities):
        score, pick = min((nll([*chosen, i]), i) for i in range(len(probabilities)) if i not in chosen)
        if score >= best:
            break
        chosen, best = [*chosen, pick], score
    return sorted(chosen)


# Test-time translation (airbench's, without its mirror images, which digits do not allow):
# each image and its copies moved one pixel up, down, left and right, background shifted in.
TTA_SHIFTS = ((0, 0), (-1, 0), (1, 0), (0, -1), (0, 1))


def shifted(images: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Images (N, H, W) moved `dy` rows down and `dx` columns right (|dy|, |dx| <= 1), zeros in."""
    h, w = images.shape[-2:]
    padded = F.pad(images, (1, 1, 1, 1))  # (N, H + 2, W + 2)
    return padded[..., 1 - dy : 1 - dy + h, 1 - dx : 1 - dx + w]


def tta_logits(model: nn.Module, images: torch.Tensor, temperature: float) -> torch.Tensor:
    """(N, C) logits whose softmax at `temperature` is the mean over `TTA_SHIFTS` of the model's
    calibrated probabilities: T * log(mean_s softmax(z_s / T)), so averaging them with other
    members' logits (and arg-maxing them) works as for plain logits."""
    probabilities = torch.stack(
        [
            (predict_logits(model, shifted(images, dy, dx)).double() / temperature).softmax(dim=1)
            for dy, dx in TTA_SHIFTS
        ]
    ).mean(dim=0)
    return (temperature * probabilities.log()).float()


def mean_probabilities(
    member_logits: Sequence[torch.Tensor], temperatures: Sequence[float] | None = None
) -> torch.Tensor:
    """(N, C) mean of the members' softmax(logits / temperature), from their (N, C) logits;
    every temperature 1 when `temperatures` is None."""
    if not member_logits:
        raise UsageError("An ensemble needs at least one run directory.")
    temperatures = [1.0] * len(member_logits) if temperatures is None else list(temperatures)
    if len(temperatures) != len(member_logits):
        raise ValueError(f"{len(member_logits)} members but {len(temperatures)} temperatures")
    return torch.stack(
        [(logits.float() / t).softmax(dim=1) for logits, t in zip(member_logits, temperatures, strict=True)]
    ).mean(dim=0)


def ensemble_probabilities(
    models: Sequence[nn.Module], images: torch.Tensor, temperatures: Sequence[float] | None = None
) -> torch.Tensor:
    """Mean calibrated class probabilities (N, C) of `models` for uint8 images (N, 28, 28)."""
    return mean_probabilities([predict_logits(model, images).cpu() for model in models], temperatures)


def member_temperature(run_dir: str | Path) -> tuple[float, bool]:
    """The run's temperature and whether it was calibrated (1.0 and False for an older run)."""
    record, note = calibration_or_default(run_dir)
    return float(record["temperature"]), note is None


def evaluate_ensemble(
    run_dirs: Sequence[str | Path],
    split: Split,
    *,
    which: str = "final",
    device: str | torch.device = "cpu",
    choose_on: Split | None = None,
    tta: bool = False,
) -> EnsembleResult:
    """Load each run's `which` weights and evaluate the mean of their calibrated probabilities
    on `split`; with `choose_on` (the validation split), only the members `select_members`
    picks there. `tta`: each member's prediction is its mean over `TTA_SHIFTS` (`tta_logits`).

    Raises UsageError when the runs were trained on different datasets.
    """
    if not run_dirs:
        raise UsageError("An ensemble needs at least one run directory.")
    common_dataset_record(run_dirs)
    # Choosing on the split evaluated (examples/records/committee.py compares on validation)
    # reads each member's logits once.
    splits = [split] if choose_on is None or choose_on is split else [split, choose_on]
    calibration = [member_temperature(run_dir) for run_dir in run_dirs]
    temperatures = [t for t, _ in calibration]
    logits: list[list[torch.Tensor]] = [[] for _ in splits]  # [split][member] (N, C)
    for run_dir, t in zip(run_dirs, temperatures, strict=True):
        model, _ = load_model(run_dir, which, device)
        for per_split, images in zip(logits, (s.images for s in splits), strict=True):
            z = (tta_logits(model, images, t) if tta else predict_logits(model, images)).cpu()
            if per_split and z.shape != per_split[0].shape:
                raise UsageError(
                    f"{run_dir} predicts {z.shape[1]} classes but {run_dirs[0]} predicts "
                    f"{per_split[0].shape[1]}; ensemble runs trained on the same dataset."
                )
            per_split.append(z)
    candidates: tuple[tuple[str, float], ...] = ()
    chosen = list(range(len(run_dirs)))
    if choose_on is not None:
        candidates = tuple(
            (str(r), evaluation_from_logits(z, choose_on.labels).accuracy)
            for r, z in zip(run_dirs, logits[-1], strict=True)
        )
        chosen = select_members(logits[-1], choose_on.labels, temperatures)
    member_logits = [logits[0][i] for i in chosen]
    committee = mean_probabilities(member_logits, [temperatures[i] for i in chosen])
    # log() of the mean probability is a valid logit vector: argmax and confusion work as usual.
    evaluation = evaluation_from_logits(committee.log(), split.labels)
    return EnsembleResult(
        evaluation,
        tuple(
            (str(run_dirs[i]), evaluation_from_logits(logits[0][i], split.labels).accuracy) for i in chosen
        ),
        tuple(temperatures[i] for i in chosen),
        tuple(calibration[i][1] for i in chosen),
        agreement(member_logits, committee, split.labels),
        candidates,
    )
