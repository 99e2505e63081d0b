"""Abstention scores, thresholds and OOD metrics against closed forms; the outlier makers' contracts."""

from __future__ import annotations

import math

import pytest
import torch

from mnistlab.data import outliers
from mnistlab.reader.abstention import (
    AbstentionRule,
    auroc,
    fit_rule,
    fpr_at_tpr,
    score,
    selective,
    separation,
)


def test_scores_against_their_definitions() -> None:
    z = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    e2 = math.exp(2)
    assert score(z, "msp").tolist() == pytest.approx([e2 / (e2 + 2), 1 / 3])
    assert score(z, "energy", 2.0).tolist() == pytest.approx([2 * math.log(math.e + 2), 2 * math.log(3)])
    with pytest.raises(ValueError, match="unknown score"):
        score(z, "entropy")


def test_auroc_and_fpr_closed_forms() -> None:
    inside = torch.arange(100, 200, dtype=torch.float64)
    assert auroc(inside, inside - 100) == 1.0  # every digit above every outlier
    assert auroc(inside, inside) == pytest.approx(0.5)  # indistinguishable
    assert auroc(inside - 100, inside) == 0.0
    # 95 % of `inside` are >= 104 (the 5 % quantile); outliers 100..199 -> 96 of 100 answered.
    assert fpr_at_tpr(inside, inside) == pytest.approx(0.96)
    assert fpr_at_tpr(inside, inside - 100) == 0.0


def test_the_rule_refuses_the_quantile_of_validation_and_round_trips() -> None:
    g = torch.Generator().manual_seed(0)
    logits = 5 * torch.randn(2000, 10, generator=g)
    rule = fit_rule(logits, "msp", 1.0, 0.01, "synthetic")
    assert rule.abstains(logits).double().mean().item() == pytest.approx(0.01, abs=0.001)
    assert AbstentionRule.from_dict(rule.to_dict()) == rule
    never = fit_rule(logits, "energy", 1.0, 0.0, "synthetic")
    assert not never.abstains(logits).any()


def test_selective_accuracy_drops_the_least_sure_mistakes() -> None:
    # Four images: two sure and right, one unsure and wrong, one sure and wrong.
    logits = torch.tensor([[9.0, 0.0], [0.0, 9.0], [0.1, 0.0], [8.0, 0.0]])
    labels = torch.tensor([0, 1, 1, 1])
    rule = AbstentionRule("msp", 1.0, threshold=0.9, quantile=0.25, fitted_on="test")
    result = selective(rule, logits, labels)
    assert result.abstained == 0.25 and result.accuracy == 0.5
    assert result.selective_accuracy == pytest.approx(2 / 3)
    assert result.curve[-1] == (1.0, 0.5)  # full coverage: the plain error rate
    sep = separation(rule, logits[:2], torch.zeros(3, 2), "flat")
    assert sep.auroc == 1.0 and sep.abstained == 1.0 and sep.fpr_at_95_tpr == 0.0


@pytest.mark.parametrize("name", list(outliers.MAKERS))
def test_outlier_makers_are_seeded_uint8_digit_layout(name: str) -> None:
    a, b, c = outliers.make(name, 16, 1), outliers.make(name, 16, 1), outliers.make(name, 16, 2)
    assert a.shape == (16, 28, 28) and a.dtype == torch.uint8
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert int(a.flatten(1).amax(1).min()) == 255  # strongest ink 255, as in MNIST
    if name not in ("uniform_noise", "blurred_noise"):  # noise fills the field; ink is centred
        ink = a.double()
        grid = torch.arange(28, dtype=torch.float64)
        cy = (ink.sum(2) @ grid) / ink.sum((1, 2))
        assert (cy - 14).abs().max() < 1.0


def test_letters_leave_out_those_written_like_digits() -> None:
    assert not set(outliers.LETTERS) & set("OISZBG") and len(outliers.LETTERS) == 20
