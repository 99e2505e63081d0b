"""When to answer: a score of how much an input looks like the training classes, and a threshold.

Scores, higher meaning "more like the dataset's classes", both on the calibrated logits z / T:

- `msp`: the maximum softmax probability (Hendrycks & Gimpel, "A Baseline for Detecting
  Misclassified and Out-of-Distribution Examples in Neural Networks", ICLR 2017).
- `energy`: the negative free energy T * logsumexp(z / T) (Liu, Wang, Owens & Li, "Energy-based
  Out-of-distribution Detection", NeurIPS 2020); unlike the MSP it does not saturate at 1.

The rule abstains when the score is below a threshold chosen on the validation split as the
`quantile` of the in-distribution scores: with quantile 0.005, the reader refuses about 0.5 %
of real validation digits, the least sure ones, and whatever scores lower than them.

How well a score separates digits from non-digits is measured without a threshold too: AUROC
(the probability that a random digit scores above a random outlier; Mann-Whitney U / n1 n2)
and the false-positive rate at 95 % true-positive rate (the share of outliers still answered
when 95 % of digits are), as in the papers above.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch

SCORES = ("msp", "energy")


def score(logits: torch.Tensor, name: str, temperature: float = 1.0) -> torch.Tensor:
    """(N,) float64 scores of `logits` (N, C); higher means more like the training classes."""
    z = logits.detach().to(torch.float64) / temperature
    if name == "msp":
        return torch.softmax(z, dim=1).amax(dim=1)
    if name == "energy":
        return temperature * torch.logsumexp(z, dim=1)
    raise ValueError(f"unknown score {name!r}; known: {', '.join(SCORES)}")


@dataclass(frozen=True)
class AbstentionRule:
    """Answer when `score(logits / temperature) >= threshold`; otherwise say "not a digit"."""

    score: str  # one of SCORES
    temperature: float
    threshold: float
    quantile: float  # the share of in-distribution validation images below the threshold
    fitted_on: str  # e.g. "mnist validation split (5,000 images)"

    def scores(self, logits: torch.Tensor) -> torch.Tensor:
        return score(logits, self.score, self.temperature)

    def abstains(self, logits: torch.Tensor) -> torch.Tensor:
        """(N,) bool: True where the reader refuses to answer."""
        return self.scores(logits) < self.threshold

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> AbstentionRule:
        return cls(**{name: record[name] for name in cls.__dataclass_fields__})


def fit_rule(
    logits: torch.Tensor, name: str, temperature: float, quantile: float, fitted_on: str
) -> AbstentionRule:
    """The rule whose threshold leaves `quantile` of these in-distribution `logits` unanswered."""
    values = score(logits, name, temperature)
    threshold = (
        float(torch.quantile(values, quantile, interpolation="lower")) if quantile > 0 else -float("inf")
    )
    return AbstentionRule(name, float(temperature), threshold, float(quantile), fitted_on)


def auroc(inside: torch.Tensor, outside: torch.Tensor) -> float:
    """P(score of a random in-distribution image > that of a random outlier), ties counting half."""
    from scipy.stats import mannwhitneyu  # here: not every user of the rule needs scipy

    u = mannwhitneyu(inside.cpu().numpy(), outside.cpu().numpy(), alternative="two-sided").statistic
    return float(u) / (inside.numel() * outside.numel())


def fpr_at_tpr(inside: torch.Tensor, outside: torch.Tensor, tpr: float = 0.95) -> float:
    """The share of outliers answered at the threshold that answers `tpr` of the in-distribution images."""
    threshold = torch.quantile(inside.to(torch.float64), 1.0 - tpr, interpolation="lower")
    return float((outside >= threshold).double().mean())


@dataclass(frozen=True)
class Selective:
    """How a rule does on in-distribution images: what it refuses, and how right the rest are."""

    images: int
    abstained: float  # share refused
    accuracy: float  # accuracy of all predictions, as without the rule
    selective_accuracy: float  # accuracy on the answered images
    aurc: float  # area under the risk-coverage curve (lower is better)
    curve: tuple[tuple[float, float], ...]  # (coverage, risk) at 20 coverages, 0.05 .. 1.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def selective(rule: AbstentionRule, logits: torch.Tensor, labels: torch.Tensor) -> Selective:
    """The rule on labelled in-distribution images: abstention, selective accuracy, risk-coverage."""
    values = rule.scores(logits)
    wrong = (logits.argmax(dim=1) != labels).double()
    answered = values >= rule.threshold
    order = torch.argsort(values, descending=True)
    risk = torch.cumsum(wrong[order], 0) / torch.arange(1, len(order) + 1, dtype=torch.float64)
    points = [max(1, round(c / 20 * len(order))) for c in range(1, 21)]
    return Selective(
        images=int(labels.numel()),
        abstained=float(1.0 - answered.double().mean()),
        accuracy=float(1.0 - wrong.mean()),
        selective_accuracy=float(1.0 - wrong[answered].mean()) if answered.any() else float("nan"),
        aurc=float(risk.mean()),
        curve=tuple((k / len(order), float(risk[k - 1])) for k in points),
    )


@dataclass(frozen=True)
class Separation:
    """How one score separates in-distribution images from one outlier set."""

    outliers: str
    images: int
    auroc: float
    fpr_at_95_tpr: float
    abstained: float  # share of the outliers the rule refuses

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def separation(rule: AbstentionRule, inside: torch.Tensor, outside: torch.Tensor, name: str) -> Separation:
    """`inside`, `outside`: logits of in-distribution images and of the outlier set `name`."""
    a, b = rule.scores(inside), rule.scores(outside)
    return Separation(
        outliers=name,
        images=int(b.numel()),
        auroc=auroc(a, b),
        fpr_at_95_tpr=fpr_at_tpr(a, b),
        abstained=float((b < rule.threshold).double().mean()),
    )
