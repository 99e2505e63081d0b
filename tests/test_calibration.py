"""Temperature scaling and calibration measures against closed forms and a known temperature."""

from __future__ import annotations

import math

import pytest
import torch

from mnistlab.reader.confidence import (
    ECE_BINS,
    calibrated_probabilities,
    calibration_metrics,
    fit_temperature,
)


def _sampled(temperature: float, n: int = 40_000, classes: int = 10, seed: int = 0):
    """Logits and labels drawn from softmax(logits / temperature): calibrated at that T by construction."""
    g = torch.Generator().manual_seed(seed)
    logits = 4.0 * torch.randn(n, classes, generator=g, dtype=torch.float64)
    labels = torch.multinomial(calibrated_probabilities(logits, temperature), 1, generator=g).squeeze(1)
    return logits, labels


@pytest.mark.parametrize("true_t", [0.5, 1.0, 2.5])
def test_the_fit_recovers_the_temperature_the_labels_were_drawn_with(true_t: float) -> None:
    logits, labels = _sampled(true_t)
    assert fit_temperature(logits, labels) == pytest.approx(true_t, rel=0.04)


def test_at_the_true_temperature_ece_is_sampling_noise_and_far_from_it_it_is_not() -> None:
    logits, labels = _sampled(2.0)
    assert calibration_metrics(logits, labels, 2.0).ece < 0.01
    assert calibration_metrics(logits, labels, 0.5).ece > 0.1  # overconfident by 4x


def test_the_fitted_temperature_minimises_nll() -> None:
    logits, labels = _sampled(1.7, n=5000, seed=1)
    t = fit_temperature(logits, labels)
    best = calibration_metrics(logits, labels, t).nll
    assert best <= calibration_metrics(logits, labels, t * 1.05).nll
    assert best <= calibration_metrics(logits, labels, t / 1.05).nll


def test_closed_forms_for_uniform_and_certain_predictions() -> None:
    labels = torch.tensor([0, 1, 2, 3])
    uniform = calibration_metrics(torch.zeros(4, 4), labels)
    assert uniform.nll == pytest.approx(math.log(4))
    assert uniform.brier == pytest.approx(1 - 1 / 4)  # (1 - 1/C)^2 + (C - 1)/C^2
    assert uniform.ece == pytest.approx(abs(0.25 - 0.25))  # confidence 1/4, and 1 of 4 right (argmax 0)
    certain = calibration_metrics(100.0 * torch.eye(4), labels)
    assert certain.brier == pytest.approx(0.0, abs=1e-12) and certain.ece == pytest.approx(0.0, abs=1e-12)


def test_ece_is_the_weighted_gap_of_its_bins() -> None:
    # Every confidence 0.75 (one bin), half of them right: ECE = |0.5 - 0.75| = 0.25.
    p = 0.75
    other = (1 - p) / 9
    logits = torch.log(torch.tensor([[p] + [other] * 9] * 10, dtype=torch.float64))
    labels = torch.tensor([0] * 5 + [1] * 5)
    metrics = calibration_metrics(logits, labels)
    assert metrics.ece == pytest.approx(0.25)
    assert len(metrics.bins) == ECE_BINS and sum(b.count for b in metrics.bins) == 10
    (full,) = [b for b in metrics.bins if b.count]
    assert full.lower < p <= full.upper and full.accuracy == pytest.approx(0.5)


def test_temperature_changes_no_prediction() -> None:
    logits, labels = _sampled(1.0, n=1000)
    assert (
        calibration_metrics(logits, labels, 3.0).accuracy == calibration_metrics(logits, labels, 1.0).accuracy
    )


@pytest.mark.parametrize("true_t", [0.05, 0.5, 1.7, 20.0])
def test_the_newton_fit_equals_scipys_bounded_minimiser(true_t: float) -> None:
    # The reference the fit replaced: scipy's bounded Brent search on 1/T.
    from scipy.optimize import minimize_scalar

    logits, labels = _sampled(true_t, n=3000, seed=2)
    z = logits.to(torch.float64)
    ref = minimize_scalar(
        lambda b: float(torch.nn.functional.cross_entropy(z * b, labels)),
        bounds=(0.01, 100.0),
        method="bounded",
        options={"xatol": 1e-9},
    )
    assert fit_temperature(logits, labels) == pytest.approx(1 / ref.x, rel=1e-5)


def test_the_fit_stops_at_its_bounds_when_the_minimum_lies_beyond_them() -> None:
    labels = torch.tensor([0, 1, 2, 3])
    right = 5.0 * torch.eye(4)  # always right: sharpening forever lowers the NLL
    assert fit_temperature(right, labels) == pytest.approx(0.01)
    assert fit_temperature(-right, labels) == pytest.approx(100.0)  # always wrong: flatten
