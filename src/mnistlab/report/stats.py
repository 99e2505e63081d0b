"""Small-sample statistics of the report: Student-t intervals over seeds, and the paper's number against them.

Student's t quantiles come from `scipy.stats.t` (imported when an interval is made: scipy.stats
costs ~0.3 s of import that a training process never needs).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

CONFIDENCE = 0.95


def t_quantile(p: float, df: float) -> float:
    """The t with P(T <= t) = p for Student's t with `df` (> 0, not necessarily whole) degrees of freedom."""
    if not 0.0 < p < 1.0 or df <= 0:
        raise ValueError(f"t_quantile needs 0 < p < 1 and df > 0, got p={p}, df={df}")
    from scipy.stats import t

    return float(t.ppf(p, df))


@dataclass(frozen=True)
class Interval:
    """A two-sided interval: `estimate` ± `t` × `standard_error`, with `df` degrees of freedom."""

    estimate: float
    low: float
    high: float
    standard_error: float
    t: float
    df: float
    confidence: float = CONFIDENCE

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _interval(estimate: float, standard_error: float, df: float, confidence: float) -> Interval:
    t = t_quantile(0.5 + confidence / 2.0, df)
    return Interval(estimate, estimate - t * standard_error, estimate + t * standard_error, standard_error, t, df,
                    confidence)  # fmt: skip


def mean_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> Interval | None:
    """Student's t interval for the mean of `values` (seeds as independent draws); None under 2 values."""
    if len(values) < 2:
        return None
    n = len(values)
    return _interval(statistics.fmean(values), statistics.stdev(values) / math.sqrt(n), n - 1, confidence)


def welch_difference(
    values: Sequence[float], baseline: Sequence[float], confidence: float = CONFIDENCE
) -> Interval | None:
    """Welch's t interval for mean(values) - mean(baseline), unequal variances, Welch-Satterthwaite df.

    None unless both have 2 or more values. When both spreads are 0 the interval is the point
    and df falls back to n1 + n2 - 2.
    """
    n1, n2 = len(values), len(baseline)
    if n1 < 2 or n2 < 2:
        return None
    v1, v2 = statistics.variance(values) / n1, statistics.variance(baseline) / n2
    difference = statistics.fmean(values) - statistics.fmean(baseline)
    if v1 + v2 == 0.0:
        return _interval(difference, 0.0, n1 + n2 - 2, confidence)
    df = (v1 + v2) ** 2 / (v1**2 / (n1 - 1) + v2**2 / (n2 - 1))
    return _interval(difference, math.sqrt(v1 + v2), df, confidence)


def _pct(fraction: float) -> str:
    return f"{100 * fraction:.2f} %"


def compare_with_paper(
    paper: float, mean: float | None, interval: Interval | None, seeds: int
) -> tuple[str | None, str | None]:
    """("inside" | "above" | "below" | None, one sentence) for a paper number against our seeds."""
    if mean is None:
        return None, None
    relation = "below" if mean < paper else "above" if mean > paper else "equal to"
    gap = f"Our mean {_pct(mean)} is {relation} the paper's {_pct(paper)}."
    if interval is None:
        return None, f"One seed only, so no interval: {gap[0].lower()}{gap[1:]}"
    where = (
        "inside" if interval.low <= paper <= interval.high else "above" if paper > interval.high else "below"
    )
    span = f"{100 * interval.low:.2f}–{100 * interval.high:.2f} %"
    sentence = (
        f"The paper's {_pct(paper)} is {where} this {100 * interval.confidence:.0f} % interval "
        f"({span}, {seeds} seeds). {gap}"
    )
    return where, sentence
