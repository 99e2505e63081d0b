"""Ensembles average calibrated probabilities: checked against hand computations and single runs."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch

from mnistlab.cli import main
from mnistlab.data import Dataset, load_dataset
from mnistlab.errors import UsageError
from mnistlab.evaluation.ensemble import (
    TTA_SHIFTS,
    agreement,
    evaluate_ensemble,
    mean_probabilities,
    select_members,
    shifted,
    tta_logits,
)
from mnistlab.models import create_model
from mnistlab.reader.calibration import read_calibration
from mnistlab.reader.prediction import predict_logits
from mnistlab.runs.checkpoint import load_model, read_results


def test_mean_probabilities_is_the_average_of_softmaxes() -> None:
    a = torch.tensor([[0.0, 0.0], [2.0, 0.0]])
    b = torch.tensor([[0.0, 3.0], [0.0, 0.0]])
    e = torch.exp(torch.tensor(1.0))
    expected = torch.tensor(
        [
            [(0.5 + 1 / (1 + e**3)) / 2, (0.5 + e**3 / (1 + e**3)) / 2],
            [(e**2 / (1 + e**2) + 0.5) / 2, (1 / (1 + e**2) + 0.5) / 2],
        ]
    )
    assert torch.allclose(mean_probabilities([a, b]), expected)
    with pytest.raises(UsageError):
        mean_probabilities([])


def test_each_member_is_calibrated_by_its_own_temperature() -> None:
    # Member a at T = 2: softmax([0, 2] / 2) = (1, e) / (1 + e); member b at T = 0.5:
    # softmax([1, 0] / 0.5) = (e^2, 1) / (1 + e^2). Their mean, by hand:
    a, b = torch.tensor([[0.0, 2.0]]), torch.tensor([[1.0, 0.0]])
    e = math.e
    first = (1 / (1 + e) + e**2 / (1 + e**2)) / 2
    expected = torch.tensor([[first, 1 - first]])
    assert torch.allclose(mean_probabilities([a, b], [2.0, 0.5]), expected)
    assert not torch.allclose(mean_probabilities([a, b]), expected)  # uncalibrated: another mean
    with pytest.raises(ValueError):
        mean_probabilities([a, b], [2.0])


def test_one_run_ensemble_equals_the_run(cnn_run: Path, mnist: Dataset) -> None:
    result = evaluate_ensemble([cnn_run], mnist.test)
    assert result.accuracy == read_results(cnn_run)["test_accuracy"]
    assert result.members == ((str(cnn_run), result.accuracy),)
    assert result.temperatures == (read_calibration(cnn_run)["temperature"],)
    assert result.calibrated == (True,)


def test_two_run_ensemble_matches_an_independent_computation(
    cnn_run: Path, softmax_run: Path, mnist: Dataset
) -> None:
    result = evaluate_ensemble([cnn_run, softmax_run], mnist.val)
    runs = (cnn_run, softmax_run)
    temperatures = [json.loads((run / "calibration.json").read_text())["temperature"] for run in runs]
    models = [load_model(run)[0] for run in runs]
    probs = [
        torch.softmax(predict_logits(m, mnist.val.images).double() / t, dim=1)
        for m, t in zip(models, temperatures, strict=True)
    ]
    expected = ((probs[0] + probs[1]).argmax(1) == mnist.val.labels).double().mean().item()
    assert result.accuracy == pytest.approx(expected, abs=2e-4)  # float32 vs float64 near-ties
    own = [(p.argmax(1) == mnist.val.labels).double().mean().item() for p in probs]
    assert [acc for _, acc in result.members] == pytest.approx(own, abs=2e-4)


def test_cli_prints_json_and_rejects_a_missing_run(
    softmax_run: Path, data_dir: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    args = ["ensemble", str(softmax_run), str(softmax_run), "--json", "--data-dir", str(data_dir)]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["accuracy"] == read_results(softmax_run)["test_accuracy"]
    assert len(out["members"]) == 2 and out["split"] == "test"
    temperature = read_calibration(softmax_run)["temperature"]
    assert [(m["temperature"], m["calibrated"]) for m in out["members"]] == [(temperature, True)] * 2
    assert main([*args, "--tta"]) == 0
    shifted_out = json.loads(capsys.readouterr().out)
    assert shifted_out["tta"] is True and out["tta"] is False
    assert (
        shifted_out["accuracy"]
        == evaluate_ensemble([softmax_run], load_dataset("mnist", data_dir).test, tta=True).accuracy
    )
    assert main(["ensemble", str(tmp_path / "nope"), "--data-dir", str(data_dir)]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not exist" in err[0]


def test_cli_says_which_members_were_calibrated(
    softmax_run: Path, mnist: Dataset, data_dir: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    old = shutil.copytree(softmax_run, tmp_path / "old")
    (old / "calibration.json").unlink()  # trained before calibration existed
    assert main(["ensemble", str(softmax_run), str(old), "--data-dir", str(data_dir)]) == 0
    new_line, old_line, summary, agree = capsys.readouterr().out.strip().splitlines()
    assert agree.startswith("members disagree on 0 of 10,000 images (0.00%)")  # one run, twice
    temperature = read_calibration(softmax_run)["temperature"]
    assert new_line.endswith(f"{softmax_run}  (temperature {temperature:.3g})")
    assert old_line.endswith(f"{old}  (not calibrated, temperature 1)")
    assert "mean of their probabilities (1 not calibrated)" in summary
    result = evaluate_ensemble([softmax_run, old], mnist.val)
    assert (result.temperatures, result.calibrated) == ((temperature, 1.0), (True, False))


def test_agreement_counts_split_answers_by_hand() -> None:
    labels = torch.tensor([0, 1, 2, 0])
    a = torch.eye(3)[[0, 1, 2, 1]]  # answers 0 1 2 1
    b = torch.eye(3)[[0, 1, 1, 0]]  # answers 0 1 1 0
    c = torch.eye(3)[[0, 1, 2, 0]]  # answers 0 1 2 0
    committee = torch.eye(3)[[0, 1, 2, 0]]  # right everywhere
    result = agreement([a, b, c], committee, labels)
    assert (result.disagree, result.committee_right_there, result.count) == (2, 2, 4)  # images 2 and 3
    assert result.pairwise == ((0.0, 0.5, 0.25), (0.5, 0.0, 0.25), (0.25, 0.25, 0.0))


def test_selection_keeps_complementary_members_and_drops_a_wrong_one() -> None:
    labels = torch.tensor([0, 1, 0, 1])
    sure = 8.0
    first_half = torch.tensor([[sure, 0.0], [0.0, sure], [0.0, 0.0], [0.0, 0.0]])  # unsure on 2, 3
    second_half = first_half.flip(0).flip(1)  # sure and right on 2, 3 only
    wrong = -sure * torch.eye(2)[labels]
    assert select_members([wrong, first_half, second_half], labels, [1.0, 1.0, 1.0]) == [1, 2]
    assert select_members([first_half], labels, [1.0]) == [0]
    perfect = sure * torch.eye(2)[labels]
    assert select_members([first_half, perfect, second_half], labels, [1.0] * 3) == [1]


def test_cli_select_chooses_on_validation_and_refuses_to_test_there(
    cnn_run: Path, softmax_run: Path, mnist: Dataset, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = [str(softmax_run), str(cnn_run)]
    assert main(["ensemble", *runs, "--select", "--json", "--data-dir", str(data_dir)]) == 0
    out = json.loads(capsys.readouterr().out)
    val_logits = [predict_logits(load_model(r)[0], mnist.val.images) for r in runs]
    temperatures = [read_calibration(r)["temperature"] for r in runs]
    chosen = select_members(val_logits, mnist.val.labels, temperatures)
    assert [m["run_dir"] for m in out["members"]] == [runs[i] for i in chosen]
    assert [c["run_dir"] for c in out["candidates"]] == runs and out["split"] == "test"
    assert main(["ensemble", *runs, "--select", "--split", "val", "--data-dir", str(data_dir)]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--split test" in err[0]


def test_shifted_moves_a_pixel_and_lets_zeros_in() -> None:
    image = torch.zeros(1, 4, 4, dtype=torch.uint8)
    image[0, 0, 0], image[0, 2, 1] = 7, 9
    down_right = shifted(image, 1, 1)
    assert down_right[0, 1, 1] == 7 and down_right[0, 3, 2] == 9 and int(down_right.sum()) == 16
    up = shifted(image, -1, 0)
    assert up[0, 1, 1] == 9 and int(up.sum()) == 9  # the 7 in row 0 left the image
    assert torch.equal(shifted(image, 0, 0), image) and down_right.dtype == torch.uint8


def test_tta_logits_are_the_mean_calibrated_probability_over_the_shifts(mnist: Dataset) -> None:
    torch.manual_seed(0)
    model = create_model("softmax")
    torch.nn.init.normal_(model.linear.weight, std=0.05)  # zero init would make every view equal
    images, t = mnist.val.images[:64], 1.7
    views = [
        torch.softmax(predict_logits(model, shifted(images, dy, dx)).double() / t, 1) for dy, dx in TTA_SHIFTS
    ]
    expected = torch.stack(views).mean(dim=0)
    got = torch.softmax(tta_logits(model, images, t).double() / t, dim=1)
    assert torch.allclose(got, expected, atol=1e-6)
    assert not torch.allclose(views[0], expected, atol=1e-3)  # the shifts did change something


def test_the_committee_script_chooses_on_validation_and_tests_once(
    softmax_run: Path, data_dir: Path, tmp_path: Path
) -> None:
    import subprocess
    import sys

    script = Path(__file__).parents[1] / "examples" / "records" / "committee.py"
    out = tmp_path / "committee.json"
    argv = [sys.executable, str(script), str(softmax_run), str(softmax_run), "--threads", "1"]
    done = subprocess.run(
        [*argv, "--data-dir", str(data_dir), "--json", str(out)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    record = json.loads(out.read_text())
    assert set(record["validation"]) == {"plain", "tta"}
    plain, tta = (record["validation"][k]["accuracy"] for k in ("plain", "tta"))
    assert record["tta"] == (tta > plain)  # the better validation reading; a tie keeps plain
    assert (
        record["test"]["accuracy"]
        == evaluate_ensemble([softmax_run], load_dataset("mnist", data_dir).test, tta=record["tta"]).accuracy
    )  # one run twice: the committee is that run
    assert done.stdout.count("committee test accuracy") == 1
