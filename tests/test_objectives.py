"""The objectives for what is not a digit: their terms against closed forms, the ramp, the
"not a digit" output through training and loading, and the pen-stroke outlier sets."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from mnistlab.config import ABSTAIN_SCORES, TrainConfig, resolve_config
from mnistlab.data import Dataset, negatives
from mnistlab.errors import UsageError
from mnistlab.reader.abstention import SCORES
from mnistlab.reader.calibration import read_calibration
from mnistlab.runs.checkpoint import load_model
from mnistlab.training.exposure import (
    OBJECTOSPHERE_WEIGHT,
    OBJECTOSPHERE_XI,
    FeatureTap,
    outlier_loss,
    outlier_weight,
    uniform_loss,
)
from mnistlab.training.loop import train


def config(**values) -> TrainConfig:
    return TrainConfig(**{"model": "cnn_bn", "steps": 100, "outlier_exposure": 0.5, **values})


def test_the_weight_is_zero_then_rises_linearly_then_holds() -> None:
    ramped = config(outlier_start=0.25, outlier_ramp=0.5)
    weights = [outlier_weight(ramped, step) for step in (0, 25, 50, 75, 99)]
    assert weights == pytest.approx([0.0, 0.0, 0.25, 0.5, 0.5])
    assert outlier_weight(config(), 0) == 0.5  # no ramp: the full weight from the first step
    assert [outlier_weight(config(outlier_start=0.5), s) for s in (49, 50, 51)] == [0.0, 0.5, 0.5]


def test_each_objective_is_its_closed_form() -> None:
    g = torch.Generator().manual_seed(0)
    logits, features = torch.randn(6, 11, generator=g), torch.randn(6, 4, generator=g) * 9
    digits = 4  # rows 0-3 digits, 4-5 outliers
    class_term = outlier_loss(config(outlier_loss="class"), logits, None, digits)
    assert class_term == pytest.approx(F.cross_entropy(logits[4:], torch.tensor([10, 10])).item())
    z = logits[4:, :10]
    uniform = -(torch.log_softmax(z, dim=1).mean(dim=1)).mean() - math.log(10)  # CE to uniform, less log C
    assert uniform_loss(z).item() == pytest.approx(uniform.item(), abs=1e-6)
    norms = features.norm(dim=1)
    known = ((OBJECTOSPHERE_XI - norms[:4]).clamp(min=0) ** 2).mean()
    sphere = outlier_loss(config(outlier_loss="objectosphere"), logits[:, :10], features, digits)
    expected = uniform + OBJECTOSPHERE_WEIGHT * (known + (norms[4:] ** 2).mean())
    assert sphere.item() == pytest.approx(expected.item(), rel=1e-6)


def test_the_feature_tap_sees_what_the_last_layer_reads() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2))
    tap = FeatureTap(model)
    x = torch.randn(4, 3)
    model(x)
    assert torch.equal(tap.features, model[1](model[0](x)))


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"outlier_loss": "margin"}, "outlier_loss must be one of uniform, class, objectosphere"),
        ({"outlier_start": 1.5}, "outlier_start and outlier_ramp must be fractions of the steps"),
        ({"outlier_sets": ("pen_faces",)}, "Unknown outlier set 'pen_faces'"),
        ({"abstain_score": "entropy"}, "abstain_score must be one of msp, energy"),
    ],
)
def test_bad_objective_settings_are_one_sentence(values, message) -> None:
    with pytest.raises(UsageError, match=message):
        config(**values)


def test_the_class_objective_trains_and_loads_one_more_output(small: Dataset, tmp_path) -> None:
    pool = negatives.make_negatives("scribbles", 64, split="train", seed=0)
    overrides = {
        "outlier_exposure": 0.5,
        "outlier_loss": "class",
        "steps": 4,
        "eval_every": 4,
        "model_options": {"widths": [4, 8, 8]},
        "augment_outliers": True,
        "augmentations": ("affine", "lowres"),
        "abstain_score": "energy",
    }
    train(resolve_config("cnn", "fast", overrides=overrides), small, run_dir=tmp_path, outliers=pool)
    model, loaded = load_model(tmp_path, "final", "cpu")  # read as ten digits' log-probabilities
    assert loaded.outputs(10) == 11 and model.model(torch.zeros(1, 1, 28, 28)).shape == (1, 11)
    assert model(torch.zeros(1, 1, 28, 28)).shape == (1, 10)
    assert TrainConfig(model="cnn_bn", outlier_loss="class").outputs(10) == 10  # no outliers: no extra output
    assert read_calibration(tmp_path)["rule"]["score"] == "energy"  # the config's score, fitted at the end


def test_the_configs_scores_are_the_readers() -> None:
    assert ABSTAIN_SCORES == SCORES


def test_a_not_a_digit_output_is_read_as_the_classes_log_probabilities() -> None:
    from mnistlab.models.heads import ClassLogProbabilities, reading_view

    inner = torch.nn.Linear(4, 11)
    x = torch.randn(5, 4)
    read = reading_view(inner, 11, 10)
    assert isinstance(read, ClassLogProbabilities) and reading_view(inner, 10, 10) is inner
    p = torch.softmax(inner(x), dim=1)
    assert torch.allclose(read(x).exp(), p[:, :10], atol=1e-6)
    assert torch.allclose(torch.logsumexp(read(x), dim=1).exp(), 1 - p[:, 10], atol=1e-6)  # P(a digit)
    with pytest.raises(ValueError, match="12 outputs"):
        reading_view(torch.nn.Linear(4, 12), 12, 10)


def test_the_pen_outlier_sets_are_the_negatives_families() -> None:
    from mnistlab.training.exposure import PEN_SETS

    assert tuple(PEN_SETS.values()) == negatives.FAMILIES
