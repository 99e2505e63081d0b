"""The robustness benchmark end to end: `evaluate --robustness` on a small trained run.

References: the plain `evaluate` accuracy of the same weights (the clean row), accuracies
recomputed here from corrupted images, the unweighted mean, and exact error sentences.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mnistlab.cli import main
from mnistlab.data.splits import Split
from mnistlab.evaluation.corruptions import CORRUPTIONS, corrupt
from mnistlab.evaluation.metrics import accuracy
from mnistlab.evaluation.robustness import (
    ROBUSTNESS_FILE,
    RobustnessResult,
    evaluate_robustness,
    read_robustness,
    write_robustness,
)
from mnistlab.runs.checkpoint import load_model


def one_line_error(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_result_mean_and_round_trip(tmp_path: Path) -> None:
    result = RobustnessResult("val", 3, 0, 10, 0.9, {"rotate": 0.5, "thin": 0.8})
    assert result.mean == pytest.approx(0.65)
    write_robustness(tmp_path, result)
    assert read_robustness(tmp_path) == result
    assert read_robustness(tmp_path / "absent") is None
    stored = json.loads((tmp_path / ROBUSTNESS_FILE).read_text())
    assert {"corruptions", "mean", "clean", "severity", "split"} <= set(stored)


def test_evaluate_robustness_matches_accuracies_recomputed_here(softmax_run: Path, mnist) -> None:
    model = load_model(softmax_run)[0]
    split = Split(mnist.val.images[:500], mnist.val.labels[:500])
    result = evaluate_robustness(model, split, split_name="val", corruptions=["thick", "rotate"], severity=2)
    assert list(result.corruptions) == ["rotate", "thick"]
    assert result.clean == accuracy(model, split)
    for name, acc in result.corruptions.items():
        assert acc == accuracy(model, Split(corrupt(split.images, name, 2), split.labels))
    assert result.count == 500 and result.severity == 2 and result.split == "val"


def test_evaluate_robustness_cli_writes_robustness_json(capsys, softmax_run: Path, data_dir: Path) -> None:
    argv = ["evaluate", str(softmax_run), "--robustness", "--split", "val", "--data-dir", str(data_dir)]
    assert main([*argv, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    stored = json.loads((softmax_run / ROBUSTNESS_FILE).read_text())
    assert set(stored["corruptions"]) == set(CORRUPTIONS)
    assert stored["split"] == "val" and stored["severity"] == 3 and stored["count"] == 5000
    assert stored["mean"] == pytest.approx(sum(stored["corruptions"].values()) / len(CORRUPTIONS))
    assert printed["corruptions"] == stored["corruptions"] and printed["clean"] == stored["clean"]
    # The clean row is the plain evaluation of the same weights.
    assert main(["evaluate", str(softmax_run), "--split", "val", "--data-dir", str(data_dir), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] == stored["clean"]

    assert main([*argv, "--corruptions", "thin,low_contrast", "--severity", "5"]) == 0
    table = capsys.readouterr().out
    assert "thin " in table and "low_contrast" in table and "rotate" not in table
    assert "scale ink so 255 becomes 32" in table and "mean (corrupted)" in table
    assert read_robustness(softmax_run).severity == 5


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--robustness", "--corruptions", "rotate,fog"], "Unknown corruption 'fog'; choose from translate,"),
        (["--robustness", "--severity", "0"], "Severity must be an integer from 1 to 5, got 0."),
        (["--robustness", "--severity", "6"], "Severity must be an integer from 1 to 5, got 6."),
        (["--robustness", "--corruptions", ","], "--corruptions needs at least one name"),
        (["--severity", "2"], "--corruptions and --severity only apply with --report robustness; add it."),
    ],
)
def test_bad_robustness_flags_exit_2_with_one_sentence(capsys, tmp_path: Path, flags, message) -> None:
    # Checked before the run directory is even opened: nothing is read or written.
    line = one_line_error(capsys, ["evaluate", str(tmp_path / "no-run"), *flags])
    assert message in line
    assert not (tmp_path / "no-run").exists()


def test_corruption_samples_and_robustness_bars_figures(mnist) -> None:
    from mnistlab.visualize import corruption_samples, figure_bytes, robustness_bars

    fig = corruption_samples(mnist.test.images[:2], severity=2)
    assert len(fig.axes) == 2 * (1 + len(CORRUPTIONS))
    assert [ax.get_title() for ax in fig.axes[:2]] == ["clean", "translate"]
    assert figure_bytes(fig).startswith(b"\x89PNG\r\n\x1a\n")

    a = RobustnessResult("test", 3, 0, 10, 0.99, {"thin": 0.5, "rotate": 0.9}).to_dict()
    b = RobustnessResult("test", 3, 0, 10, 0.98, {"thin": 0.7, "rotate": 0.8}).to_dict()
    fig = robustness_bars({"fast": a, "robust": b})
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["rotate", "thin", "mean", "clean"]
    widths = [round(p.get_width(), 6) for p in ax.patches]
    assert widths == [90.0, 50.0, 70.0, 99.0, 80.0, 70.0, 75.0, 98.0]
