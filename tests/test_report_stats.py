"""Student's t (scipy) against closed forms and tables, intervals over seeds, and the paper's number against them."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from mnistlab.report.stats import compare_with_paper, mean_interval, t_quantile, welch_difference

REPO = Path(__file__).resolve().parents[1]


def test_t_quantiles_equal_closed_forms_and_tables() -> None:
    for p in (0.6, 0.9, 0.975, 0.995):
        assert t_quantile(p, 1) == pytest.approx(math.tan(math.pi * (p - 0.5)), rel=1e-9)  # Cauchy
        a = 2 * p - 1
        assert t_quantile(p, 2) == pytest.approx(a * math.sqrt(2 / (1 - a * a)), rel=1e-9)
    # Printed tables (e.g. NIST/SEMATECH e-Handbook 1.3.6.7.2), 6 decimals.
    assert t_quantile(0.975, 2) == pytest.approx(4.302653, abs=1e-6)
    assert t_quantile(0.975, 4) == pytest.approx(2.776445, abs=1e-6)
    assert t_quantile(0.975, 10) == pytest.approx(2.228139, abs=1e-6)
    assert t_quantile(0.975, 30) == pytest.approx(2.042272, abs=1e-6)
    assert t_quantile(0.025, 4) == pytest.approx(-2.776445, abs=1e-6)
    assert t_quantile(0.5, 3.3) == 0.0
    with pytest.raises(ValueError):
        t_quantile(1.0, 3)


def test_mean_interval_is_mean_plus_minus_t_std_over_root_n() -> None:
    interval = mean_interval([0.990, 0.992, 0.994])  # mean 0.992, sample std 0.002, n 3
    half = 4.302653 * 0.002 / math.sqrt(3)
    assert interval is not None and (interval.df, interval.confidence) == (2, 0.95)
    assert interval.estimate == pytest.approx(0.992)
    assert (interval.low, interval.high) == (pytest.approx(0.992 - half), pytest.approx(0.992 + half))
    assert mean_interval([0.99]) is None and mean_interval([]) is None


def test_welch_difference_with_equal_spreads_has_2n_minus_2_df() -> None:
    interval = welch_difference([1.0, 2.0, 3.0], [2.0, 3.0, 4.0])  # variances 1 and 1, n 3 each
    assert interval is not None
    assert interval.df == pytest.approx(4.0) and interval.estimate == pytest.approx(-1.0)
    half = 2.776445 * math.sqrt(1 / 3 + 1 / 3)
    assert (interval.low, interval.high) == (
        pytest.approx(-1 - half, abs=1e-5),
        pytest.approx(-1 + half, abs=1e-5),
    )
    # Unequal n and spreads: df = (v1 + v2)^2 / (v1^2 / 2 + v2^2 / 3), v1 = 1/3, v2 = (5/3)/4.
    v1, v2 = 1 / 3, (5 / 3) / 4
    assert welch_difference([1, 2, 3], [1, 2, 3, 4]).df == pytest.approx(
        (v1 + v2) ** 2 / (v1**2 / 2 + v2**2 / 3)
    )
    assert welch_difference([1.0, 1.0], [1.0, 1.0]).low == 0.0  # no spread: the point
    assert welch_difference([1.0], [1.0, 2.0]) is None


def test_the_paper_sentence_says_inside_above_or_below() -> None:
    interval = mean_interval([0.990, 0.992, 0.994])  # 98.70–99.70 %
    verdict, sentence = compare_with_paper(0.9927, 0.992, interval, 3)
    assert verdict == "inside"
    assert sentence == (
        "The paper's 99.27 % is inside this 95 % interval (98.70–99.70 %, 3 seeds). "
        "Our mean 99.20 % is below the paper's 99.27 %."
    )
    assert compare_with_paper(0.9980, 0.992, interval, 3)[0] == "above"
    verdict, sentence = compare_with_paper(0.9800, 0.992, interval, 3)
    assert verdict == "below" and sentence.endswith("Our mean 99.20 % is above the paper's 98.00 %.")
    assert compare_with_paper(0.9927, 0.9920, None, 1) == (
        None,
        "One seed only, so no interval: our mean 99.20 % is below the paper's 99.27 %.",
    )
    assert compare_with_paper(0.9927, None, None, 0) == (None, None)


@pytest.mark.parametrize("results", ["mnist.json", "fashion-mnist.json"])
def test_the_committed_intervals_are_unchanged_to_the_printed_digit(results: str) -> None:
    """Every interval in the committed results, made before scipy computed t, made again from
    the same seeds' accuracies: the same t to 1e-9 and the same bounds as printed (0.01 %)."""
    report = json.loads((REPO / "docs" / "results" / results).read_text(encoding="utf-8"))
    checked = 0
    for row in report["experiments"]:
        accuracies = [run["test_accuracy"] for run in row["runs"] if run.get("test_accuracy") is not None]
        if row.get("interval95") is None or len(accuracies) < 2:
            continue
        old, new = row["interval95"], mean_interval(accuracies)
        assert new is not None and new.t == pytest.approx(old["t"], rel=1e-9), row["key"]
        for bound in ("low", "high"):
            assert f"{100 * getattr(new, bound):.2f}" == f"{100 * old[bound]:.2f}", (row["key"], bound)
        checked += 1
    assert checked >= 3
