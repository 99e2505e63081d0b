"""Small-sample statistics of the report: Student-t intervals over seeds, and the paper's number against them.

scipy is not a dependency, so Student's t distribution is computed here from the regularized
incomplete beta function (continued fraction of Numerical Recipes, 3rd ed., section 6.4):
for t >= 0, P(T <= t) = 1 - I_x(df/2, 1/2) / 2 with x = df / (df + t^2). The tests check it
against closed forms (df 1: the Cauchy quantile tan(pi (p - 1/2)); df 2: t = a sqrt(2 / (1 - a^2)),
a = 2p - 1) and printed tables (t(0.975; 4) = 2.776445).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

CONFIDENCE = 0.95


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of I_x(a, b), by the modified Lentz method."""
    tiny, eps = 1e-300, 1e-15
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10_000):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < eps:
            break
    return h


def incomplete_beta(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b), for a, b > 0 and 0 <= x <= 1."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    # The fraction converges fast for x < (a + 1) / (a + b + 2); otherwise use I_x(a, b) = 1 - I_{1-x}(b, a).
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_continued_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_continued_fraction(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with `df` (> 0, not necessarily whole) degrees of freedom."""
    tail = 0.5 * incomplete_beta(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The t with P(T <= t) = p, by bisection (to ~1e-12) on the monotone CDF."""
    if not 0.0 < p < 1.0 or df <= 0:
        raise ValueError(f"t_quantile needs 0 < p < 1 and df > 0, got p={p}, df={df}")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    low, high = 0.0, 1.0
    while t_cdf(high, df) < p:
        high *= 2.0
    for _ in range(200):
        mid = 0.5 * (low + high)
        low, high = (mid, high) if t_cdf(mid, df) < p else (low, mid)
        if high - low < 1e-12 * max(1.0, high):
            break
    return 0.5 * (low + high)


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
