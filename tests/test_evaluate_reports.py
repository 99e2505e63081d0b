"""`mnistlab evaluate --report A,B`: every report asked for runs, each as it runs alone.

Several reports are checked against the same reports asked for one at a time (text and
--json) and against the library computed here; the flags each report had before --report
still work, hidden from --help; misuse is one sentence, exit 2, before the run is opened.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mnistlab.cli import build_parser, main
from mnistlab.data import Dataset
from mnistlab.evaluation import numbers
from mnistlab.evaluation.robustness import ROBUSTNESS_FILE, evaluate_robustness
from mnistlab.reader import Reader
from mnistlab.runs.checkpoint import load_model

TINY_SETS = {"four_digit": 4, "touching": 3}  # images per set: the wiring, not the reader's skill
TINY_LINE_SETS = {"overlapping": 3}


@pytest.fixture
def run(softmax_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the session's softmax run (robustness writes into its folder), numbers made tiny."""
    monkeypatch.setattr(numbers, "SETS", TINY_SETS)
    monkeypatch.setattr(numbers, "LINE_SETS", TINY_LINE_SETS)
    return Path(shutil.copytree(softmax_run, tmp_path / "softmax"))


def evaluate(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(["evaluate", *argv, "--split", "val", "--device", "cpu"]) == 0
    return capsys.readouterr().out


def test_two_reports_run_both_each_as_it_runs_alone(
    run: Path, data_dir: Path, mnist: Dataset, capsys: pytest.CaptureFixture[str]
) -> None:
    common = [str(run), "--data-dir", str(data_dir)]
    alone = {
        "robustness": ["--report", "robustness", "--corruptions", "rotate"],
        "numbers": ["--report", "numbers"],
    }
    both = json.loads(
        evaluate(capsys, *common, "--report", "robustness,numbers", "--corruptions", "rotate", "--json")
    )
    assert set(both) == {"robustness", "numbers"}  # printed with sorted keys
    # Against the library, computed here on the same weights and split.
    model = load_model(run)[0]
    expected = evaluate_robustness(model, mnist.val, split_name="val", corruptions=["rotate"], severity=3)
    assert both["robustness"]["corruptions"] == expected.corruptions
    assert both["robustness"]["clean"] == expected.clean and both["robustness"]["count"] == 5000
    assert json.loads((run / ROBUSTNESS_FILE).read_text())["corruptions"] == expected.corruptions
    sets = numbers.evaluate_numbers(Reader.from_run(run), mnist.val, TINY_SETS)
    lines = numbers.line_numbers(mnist.val, TINY_SETS, TINY_LINE_SETS, "val")  # the shipped line reader
    assert set(lines) == {"four_digit", "touching", "overlapping"}
    assert both["numbers"] == {
        "run_dir": str(run),
        "split": "val",
        "seed": numbers.SEED,
        "sets": sets,
        "line_reader": lines,
    }
    # Each key is what that report prints alone with --json.
    for name, flags in alone.items():
        assert json.loads(evaluate(capsys, *common, *flags, "--json")) == both[name]

    # The text: a heading per report, each section the report's own text, in the order asked.
    text = evaluate(capsys, *common, "--report", "numbers,robustness", "--corruptions", "rotate")
    shown = {name: evaluate(capsys, *common, *flags) for name, flags in alone.items()}
    assert text == f"== numbers ==\n{shown['numbers']}\n== robustness ==\n{shown['robustness']}"
    assert "4 digits, gaps 3-20 px" in shown["numbers"] and "mean (corrupted)" in shown["robustness"]


def test_the_old_flags_ask_for_their_reports_and_all_of_them_run(
    run: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `--robustness --numbers` ran robustness only before --report; each flag is now a report.
    common = [str(run), "--data-dir", str(data_dir), "--json"]
    old = json.loads(evaluate(capsys, *common, "--robustness", "--numbers", "--corruptions", "thin"))
    assert set(old) == {"robustness", "numbers"}
    new = json.loads(evaluate(capsys, *common, "--report", "robustness,numbers", "--corruptions", "thin"))
    assert old == new
    # A report named twice, by --report and by its flag, runs once.
    once = json.loads(evaluate(capsys, *common, "--report", "numbers,numbers", "--numbers"))
    assert once == new["numbers"]  # one report: its own object, no key per report


def test_accuracy_is_the_default_report(
    run: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = json.loads(evaluate(capsys, str(run), "--data-dir", str(data_dir), "--json"))
    named = json.loads(
        evaluate(capsys, str(run), "--data-dir", str(data_dir), "--json", "--report", "accuracy")
    )
    assert plain == named and plain["split"] == "val" and len(plain["confusion"]) == 10


def test_help_names_report_and_hides_the_old_flags(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser("evaluate").parse_args(["evaluate", "--help"])
    text = capsys.readouterr().out
    assert "--report A,B" in text
    for name in ("accuracy", "robustness", "calibration", "ood", "handwriting", "numbers"):
        assert name in text
    for flag in ("--robustness", "--calibration", "--ood", "--handwriting", "--numbers"):
        assert flag not in text


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--report", "robustness,confidence"],
            "Unknown report 'confidence'; choose from accuracy, robustness, calibration, ood, handwriting, "
            "numbers.",
        ),
        (["--report", " , "], "--report needs at least one name, e.g. --report calibration,ood."),
        (
            ["--report", "ood", "--figure", "x.png"],
            "--figure only applies with --report calibration; add it.",
        ),
        (
            ["--report", "numbers", "--corruptions", "rotate"],
            "--corruptions and --severity only apply with --report robustness; add it.",
        ),
        (
            ["--ood", "--severity", "2"],
            "--corruptions and --severity only apply with --report robustness; add it.",
        ),
    ],
)
def test_misused_report_flags_are_one_sentence_before_the_run_is_opened(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    assert main(["evaluate", str(tmp_path / "no-run"), *flags]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"mnistlab: error: {message}\n" and captured.out == ""
    assert not (tmp_path / "no-run").exists() and not (tmp_path / "x.png").exists()
