"""The reader: outlier exposure, calibration written when a run finishes, and what predict says."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mnistlab.cli import main
from mnistlab.commands.common import finite_or_null
from mnistlab.config import resolve_config
from mnistlab.data import Dataset, negatives, outliers
from mnistlab.models import pretrained
from mnistlab.reader import Reader
from mnistlab.reader.abstention import AbstentionRule
from mnistlab.reader.calibration import CALIBRATION_FILE, read_calibration
from mnistlab.reader.confidence import fit_temperature
from mnistlab.reader.prediction import predict_logits
from mnistlab.runs.checkpoint import load_model
from mnistlab.training.exposure import outlier_batch, outlier_pool, uniform_loss
from mnistlab.training.loop import train

OE = {"outlier_exposure": 0.5, "steps": 40, "eval_every": 20, "log_every": 20, "seed": 0}


@pytest.fixture(scope="module")
def pool(small: Dataset, data_dir: Path) -> torch.Tensor:
    return outlier_pool(small, ("other", "uniform_noise", "random_strokes"), data_dir)


@pytest.fixture(scope="module")
def oe_run(small: Dataset, pool: torch.Tensor, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("reader") / "oe"
    train(resolve_config("cnn", "fast", overrides=OE), small, run_dir=run_dir, outliers=pool)
    return run_dir


def test_the_uniform_loss_is_zero_at_uniform_and_positive_elsewhere() -> None:
    assert uniform_loss(torch.zeros(4, 10)).item() == pytest.approx(0.0, abs=1e-6)
    assert uniform_loss(torch.tensor([[5.0, 0.0, 0.0]])).item() > 0.5


def test_the_pool_holds_the_other_datasets_training_split_and_made_images(small, pool) -> None:
    assert pool.dtype == torch.uint8 and pool.shape[1:] == (28, 28)
    assert pool.shape[0] == 55_000 + 2 * 10_000  # Fashion-MNIST's train split: never its val or test
    assert torch.equal(outlier_batch(pool, 8, 0, 5), outlier_batch(pool, 8, 0, 5))
    assert not torch.equal(outlier_batch(pool, 8, 0, 5), outlier_batch(pool, 8, 0, 6))


def test_outlier_exposure_resumes_bit_identical(small, pool, oe_run, tmp_path) -> None:
    stopped = tmp_path / "stopped"
    calls = iter(range(10_000))
    config = resolve_config("cnn", "fast", overrides=OE)
    train(config, small, run_dir=stopped, outliers=pool, should_stop=lambda: next(calls) >= 20)
    train(config, small, run_dir=stopped, outliers=pool, resume=True)
    a, _ = load_model(oe_run, "last", "cpu")
    b, _ = load_model(stopped, "last", "cpu")
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(x, y), name


def test_a_finished_run_writes_its_calibration_fitted_on_validation(small, oe_run) -> None:
    record = read_calibration(oe_run)
    model, _ = load_model(oe_run, "final", "cpu")
    logits = predict_logits(model, small.val.images)
    assert record["temperature"] == pytest.approx(fit_temperature(logits, small.val.labels), rel=1e-6)
    rule = AbstentionRule.from_dict(record["rule"])
    assert rule.fitted_on == "mnist validation split (500 images)"
    # The threshold leaves `quantile` of the validation digits unanswered.
    assert rule.abstains(logits).double().mean().item() == pytest.approx(rule.quantile, abs=1 / 500)
    results = json.loads((oe_run / "results.json").read_text())
    assert results["calibration"]["temperature"] == record["temperature"]


def _png(path: Path, image: torch.Tensor) -> Path:
    Image.fromarray(255 - image.numpy()).resize((112, 112)).save(path)  # dark ink on light paper
    return path


def test_predict_says_not_a_digit_and_always_answer_still_answers(small, tmp_path, capsys) -> None:
    # The shipped reader (99.4 % test, noise refused 99.95 %): a 40-step model's answer on one
    # digit and one noise image would hang on its seed and the CPU's floating-point order.
    shipped = pretrained.reader_run()
    digit = _png(tmp_path / "digit.png", small.test.images[0])
    noise = _png(tmp_path / "noise.png", outliers.make("uniform_noise", 1, outliers.TEST_SEED)[0])
    assert main(["predict", str(shipped), str(digit), str(noise), "--json"]) == 0
    rows = {Path(r["image"]).stem: r for r in json.loads(capsys.readouterr().out)["predictions"]}
    (read,) = rows["digit"]["digits"]
    assert rows["digit"]["abstain"] is False and read["label"] == int(small.test.labels[0])
    assert rows["digit"]["number"] == str(int(small.test.labels[0]))
    (refused,) = rows["noise"]["digits"]
    assert rows["noise"]["abstain"] is True and rows["noise"]["number"] is None
    assert refused["abstain"] is True and refused["label"] is None and refused["class"] is None
    assert refused["score"] < refused["threshold"] and refused["reason"].startswith("not a digit")
    assert rows["noise"]["reason"] == f"digit 1 of 1: {refused['reason']}"
    assert sum(refused["probabilities"]) == pytest.approx(1.0)
    assert main(["predict", str(shipped), str(noise), "--always-answer", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["predictions"]
    (digit,) = row["digits"]
    assert row["abstain"] is True and digit["label"] == int(np.argmax(digit["probabilities"]))
    assert row["number"] == digit["class"] == str(digit["label"])
    assert main(["predict", str(shipped), str(noise)]) == 0
    assert "not a digit" in capsys.readouterr().out


def test_a_run_without_calibration_answers_everything_and_says_so(oe_run, tmp_path, capsys) -> None:
    import shutil

    old = tmp_path / "old"
    shutil.copytree(oe_run, old)
    (old / CALIBRATION_FILE).unlink()
    noise = _png(tmp_path / "noise.png", outliers.make("uniform_noise", 1, outliers.TEST_SEED)[0])
    assert main(["predict", str(old), str(noise), "--json"]) == 0
    captured = capsys.readouterr()
    body = json.loads(captured.out)
    assert body["calibrated"] is False and body["temperature"] == 1.0
    assert body["predictions"][0]["abstain"] is False
    assert captured.err.count("\n") == 1 and "mnistlab calibrate" in captured.err
    assert main(["calibrate", str(old)]) == 0
    assert read_calibration(old)["rule"]["quantile"] == 0.005


def printed(report: dict) -> dict:
    """A library report as `--json` prints it (sorted keys, not-finite numbers as null)."""
    return json.loads(json.dumps(finite_or_null(report), sort_keys=True))


def test_evaluate_calibration_and_ood_reports(oe_run, mnist, data_dir, tmp_path, capsys, monkeypatch) -> None:
    from mnistlab.evaluation import trust
    from mnistlab.evaluation.trust import reader_calibration, reader_ood

    monkeypatch.setattr(trust, "OUTLIERS_PER_SET", 200)  # of 2,000, and 100 of 500 pen negatives:
    monkeypatch.setattr(trust, "NEGATIVES_PER_FAMILY", 100)  # the command and the library alike

    figure = tmp_path / "reliability.png"
    args = ["--data-dir", str(data_dir), "--json", "--split", "val"]
    assert main(["evaluate", str(oe_run), "--calibration", "--figure", str(figure), *args]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["calibrated"] and report["clean"]["images"] == report["corrupted"]["images"] == 5000
    assert report["clean"]["after"]["nll"] <= report["clean"]["before"]["nll"] + 0.05
    assert figure.stat().st_size > 10_000
    # The command prints the library's report, with what it was asked.
    reader = Reader.from_run(oe_run)
    asked = {"run_dir": str(oe_run), "split": "val", "calibrated": True}
    assert report == {**asked, **printed(reader_calibration(reader, mnist.val))}
    assert main(["evaluate", str(oe_run), "--ood", *args]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report == {
        "run_dir": str(oe_run),
        "calibrated": True,
        **printed(reader_ood(reader, mnist, "val", data_dir)),
    }
    names = [row["outliers"] for row in report["outliers"]]
    assert names == ["fashion-mnist", *outliers.MAKERS, *(f"pen_{f}" for f in negatives.FAMILIES)]
    assert all(0.0 <= row["auroc"] <= 1.0 for row in report["outliers"])
    assert 0.0 <= report["inside"]["abstained"] <= 0.2
    assert not (oe_run / "ood.json").exists()  # kept for the model card from the test split only


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["calibrate", "{run}", "--quantile", "0.7"], "--quantile must be in [0, 0.5)"),
        (
            ["evaluate", "{run}", "--figure", "x.png"],
            "--figure only applies with --report calibration; add it.",
        ),
        (["evaluate", "{run}", "--report", "ood,trust"], "Unknown report 'trust'; choose from accuracy,"),
    ],
)
def test_bad_reader_flags_are_one_sentence(oe_run, capsys, argv, message) -> None:
    before = read_calibration(oe_run)
    code = main([a.format(run=oe_run) for a in argv])
    err = capsys.readouterr().err
    assert code != 0 and message in err and "Traceback" not in err
    assert read_calibration(oe_run) == before  # nothing rewritten


def test_a_corrupt_calibration_file_is_one_sentence(oe_run, tmp_path, capsys) -> None:
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(oe_run, broken)
    (broken / CALIBRATION_FILE).write_text('{"format": "something else"}')
    assert (
        main(
            [
                "predict",
                str(broken),
                str(_png(tmp_path / "d.png", torch.zeros(28, 28, dtype=torch.uint8) + 9)),
            ]
        )
        == 1
    )
    err = capsys.readouterr().err
    assert "is not a calibration file" in err and "mnistlab calibrate" in err


def test_evaluate_handwriting_reads_the_uci_digits(oe_run, capsys) -> None:
    assert main(["evaluate", str(oe_run), "--handwriting", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["images"] == 1797 and "UCI" in report["source"]
    assert report["read"] <= report["accuracy"] and report["read"] + report["abstained"] <= 1.0 + 1e-9
    # Against the reading `predict` gives the same 28x28 digits (this 40-step model's accuracy
    # itself spreads 0.29-0.52 over seeds 0-4: no bound on it would hold on every CPU).
    from mnistlab.evaluation.handwriting import uci_digits

    images, labels = uci_digits()
    reader = Reader.from_run(oe_run)
    readings = reader.read(images.numpy())
    right = np.array([r.prediction.label for r in readings]) == labels.numpy()
    refused = np.array([r.abstain for r in readings])
    assert report["accuracy"] == pytest.approx(right.mean(), abs=1e-12)
    assert report["abstained"] == pytest.approx(refused.mean(), abs=1e-12)
    assert report["read"] == pytest.approx((right & ~refused).mean(), abs=1e-12)
    from mnistlab.evaluation.handwriting import reader_handwriting

    assert report == {"run_dir": str(oe_run), "calibrated": True, **printed(reader_handwriting(reader))}


def test_the_uci_digits_look_like_mnist() -> None:
    from mnistlab.evaluation.handwriting import uci_digits

    images, labels = uci_digits()
    assert images.shape == (1797, 28, 28) and images.dtype == torch.uint8
    assert torch.bincount(labels).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    ink = images.double()
    grid = torch.arange(28, dtype=torch.float64)
    cy = (ink.sum(2) @ grid) / ink.sum((1, 2))
    assert (cy - 14).abs().max() < 1.0 and int(images.flatten(1).amax(1).min()) == 255
