"""The reader that ships inside the package: its files, their hashes, and its recorded test accuracy."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from mnistlab.data import Dataset
from mnistlab.errors import CheckpointError
from mnistlab.models import pretrained
from mnistlab.reader.calibration import read_calibration
from mnistlab.reader.prediction import predict_logits
from mnistlab.reader.reader import Reader
from mnistlab.runs import checkpoint as ckpt

REPO = Path(__file__).resolve().parents[1]


def test_the_shipped_files_are_the_recorded_ones_and_small() -> None:
    run_dir = pretrained.reader_run()
    assert {p.name for p in run_dir.iterdir()} == {*pretrained.SHA256, "README.md"}
    readme = (run_dir / "README.md").read_text(encoding="utf-8")
    for name, digest in pretrained.SHA256.items():
        assert hashlib.sha256((run_dir / name).read_bytes()).hexdigest() == digest
        assert f"| `{name}` | `{digest}` |" in readme
    assert pretrained.READER_COMMAND in readme
    assert sum(p.stat().st_size for p in run_dir.iterdir()) <= 2_000_000
    # The wheel carries them: pyproject's package data names the folder.
    assert '"models/pretrained/reader/*"' in (REPO / "pyproject.toml").read_text(encoding="utf-8")


def test_the_shipped_reader_reads_its_recorded_test_accuracy(mnist: Dataset) -> None:
    run_dir = pretrained.reader_run()
    results = ckpt.read_results(run_dir)
    config, _ = ckpt.read_run_config(run_dir)
    assert (config.model, config.recipe, config.seed, config.outlier_loss) == ("cnn_bn", "reader", 0, "class")
    model, _ = ckpt.load_model(run_dir)  # the weights its own test used ("final")
    right = int((predict_logits(model, mnist.test.images).argmax(1) == mnist.test.labels).sum())
    # Recorded with 2 threads; another thread count may move a near-tie, so one image of slack.
    assert abs(right - round(results["test_accuracy"] * 10_000)) <= 1
    assert results["test_accuracy"] >= 0.99
    reader = Reader.from_run(run_dir)
    assert reader.rule.to_dict() == read_calibration(run_dir)["rule"]
    assert (
        reader.rule.score == "energy" and -1.0 < reader.rule.threshold < 0
    )  # energy of the digit log-probabilities


def test_a_damaged_shipped_reader_is_one_sentence(tmp_path: Path, monkeypatch) -> None:
    copy, shipped = tmp_path / "reader", pretrained.reader_run()
    shutil.copytree(shipped, copy)
    monkeypatch.setattr(pretrained, "READER_DIR", copy)
    assert pretrained.reader_run() == copy
    (copy / "calibration.json").write_text("{}")
    with pytest.raises(CheckpointError, match=r"calibration\.json is not the file mnistlab shipped"):
        pretrained.reader_run()
    assert pretrained.reader_run(verify=False) == copy
    shutil.copy(shipped / "calibration.json", copy)
    (copy / "state.json").unlink()
    with pytest.raises(CheckpointError, match=r"lacks .*state\.json; reinstall mnistlab"):
        pretrained.reader_run()


def test_evaluate_ood_writes_nothing_into_the_shipped_folder() -> None:
    from mnistlab.evaluation.trust import keep_ood

    before = sorted(p.name for p in pretrained.reader_run().iterdir())
    kept = keep_ood(str(pretrained.reader_run()), {"inside": {}, "outliers": []})
    assert kept == (None, "ood.json not written into the shipped reader's folder.")
    assert sorted(p.name for p in pretrained.reader_run().iterdir()) == before
