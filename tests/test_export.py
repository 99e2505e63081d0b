"""`mnistlab export`: every registered model to ONNX, checked against torch in onnxruntime.

Tiny runs (a few steps each) are trained on the real data; the library tests verify on the
first 500 test images for speed, the CLI test on the whole test split as users run it. The
decision test runs the file in onnxruntime on the whole test split and applies the abstention
rule from its metadata alone, with numpy, as a user without mnistlab would.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mnistlab.cli import build_parser, main
from mnistlab.commands.train import resolve_run
from mnistlab.config import TrainConfig, resolve_config
from mnistlab.data import Dataset, Split, get_dataset_spec
from mnistlab.errors import ExportError, UsageError
from mnistlab.evaluation.metrics import evaluate
from mnistlab.export.onnx import (
    MAX_ABS_LOGIT_DIFF,
    compare_logits,
    export_run,
    require_export_packages,
    run_onnx,
)
from mnistlab.models import list_models
from mnistlab.reader import Reader
from mnistlab.reader.abstention import AbstentionRule
from mnistlab.reader.calibration import fit_calibration, read_calibration, write_calibration
from mnistlab.reader.confidence import calibration_metrics
from mnistlab.reader.prediction import predict_logits
from mnistlab.recipes import RECIPES, task_of_recipe
from mnistlab.runs.checkpoint import load_model, read_dataset_record, read_results, write_run_config
from mnistlab.runs.record import exported_record, train_command
from mnistlab.training.loop import train

EXTRA_MISSING = "the 'export' extra is not installed: pip install 'mnistlab[export]'"
METADATA_KEYS = {
    "mnistlab.format",
    "mnistlab.version",
    "model",
    "recipe",
    "config",
    "checkpoint",
    "step",
    "dataset",
    "dataset_sha256",
    "classes",
    "input",
    "output",
    "preprocessing",
    "temperature",
    "abstention",
    "calibrated",
    "decision",
    "test_accuracy",
    "test_count",
    "run_test_accuracy",
    "torch",
}


@pytest.fixture(scope="module")
def onnx_extra() -> None:
    for name in ("onnx", "onnxscript", "onnxruntime"):
        pytest.importorskip(name, reason=EXTRA_MISSING)


def _recipe_of(model: str) -> tuple[str, str]:
    return next((task_of_recipe(name), name) for name, values in RECIPES.items() if values["model"] == model)


@pytest.fixture(scope="module")
def small_test(mnist: Dataset) -> Split:
    return Split(mnist.test.images[:500], mnist.test.labels[:500])


@pytest.fixture(scope="module")
def tiny_runs(mnist: Dataset, small_test: Split, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One finished run per registered model: 8 steps, validated on 200 and tested on 500 images."""
    small = dataclasses.replace(
        mnist, val=Split(mnist.val.images[:200], mnist.val.labels[:200]), test=small_test
    )
    runs = {}
    for model in list_models():
        task, recipe = _recipe_of(model)
        config = resolve_config(task, recipe, overrides={"steps": 8, "eval_every": 4, "seed": 0})
        runs[model] = tmp_path_factory.mktemp("runs") / model
        train(config, small, run_dir=runs[model])
    return runs


def _copy_run(run: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    return copy


def _leftovers(folder: Path) -> list[str]:
    return sorted(
        p.name for p in folder.iterdir() if p.suffix in (".onnx", ".tmp") or p.name == "MODEL_CARD.md"
    )


def _one_line_error(capsys, argv: list[str], status: int) -> str:
    assert main(argv) == status
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


# -- every registered model ------------------------------------------------------------------


@pytest.mark.parametrize("model_name", list_models())
def test_every_registered_model_exports_and_matches_torch(
    onnx_extra, tiny_runs: dict[str, Path], small_test: Split, tmp_path: Path, model_name: str
) -> None:
    import onnx

    run = tiny_runs[model_name]
    result = export_run(run, out=tmp_path / f"{model_name}.onnx", test=small_test)

    assert result.path.is_file() and result.card_path == tmp_path / "MODEL_CARD.md"
    assert _leftovers(tmp_path) == ["MODEL_CARD.md", f"{model_name}.onnx"]
    assert result.verification.passed and result.verification.count == 500
    assert result.verification.max_abs_logit_diff < MAX_ABS_LOGIT_DIFF
    assert result.size_bytes == result.path.stat().st_size

    proto = onnx.load(str(result.path))
    onnx.checker.check_model(proto)
    (inp,), (out,) = proto.graph.input, proto.graph.output
    assert (inp.name, out.name) == ("images", "logits")
    assert inp.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    in_dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    out_dims = [d.dim_param or d.dim_value for d in out.type.tensor_type.shape.dim]
    assert isinstance(in_dims[0], str) and in_dims[1:] == [1, 28, 28]
    assert out_dims == [in_dims[0], 10]  # the same symbolic batch

    metadata = {p.key: p.value for p in proto.metadata_props}
    assert set(metadata) == METADATA_KEYS
    model, config = load_model(run, "last")
    assert TrainConfig.from_dict(json.loads(metadata["config"])) == config
    assert metadata["model"] == model_name and metadata["recipe"] == config.recipe
    assert json.loads(metadata["classes"]) == [str(d) for d in range(10)]
    spec = get_dataset_spec("mnist")
    assert json.loads(metadata["dataset_sha256"]) == {r: f.sha256 for r, f in spec.files_by_role.items()}
    assert float(metadata["test_accuracy"]) == evaluate(model, small_test).accuracy
    assert metadata["test_count"] == "500" and metadata["checkpoint"] == "last" and metadata["step"] == "8"
    assert float(metadata["run_test_accuracy"]) == read_results(run)["test_accuracy"]
    saved = read_calibration(run)
    assert float(metadata["temperature"]) == saved["temperature"] and metadata["calibrated"] == "true"
    assert json.loads(metadata["abstention"]) == saved["rule"]

    # A dynamic batch: one image and seven give torch's logits.
    for n in (1, 7):
        images = small_test.images[10 : 10 + n]
        got = run_onnx(result.path, images)
        assert got.shape == (n, 10)
        torch.testing.assert_close(got, predict_logits(model, images), atol=MAX_ABS_LOGIT_DIFF, rtol=0)


# -- the command line, on the whole test split --------------------------------------------------


def test_cli_exports_with_the_runs_own_test_accuracy(
    onnx_extra, softmax_run: Path, mnist: Dataset, data_dir: Path, tmp_path: Path, capsys
) -> None:
    run = _copy_run(softmax_run, tmp_path)
    assert main(["export", str(run), "--data-dir", str(data_dir), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["path"] == str(run / "model.onnx") and (run / "model.onnx").is_file()
    assert report["verification"]["count"] == 10_000 and report["verification"]["passed"]
    # "final" = the weights the run tested, so the accuracy is the run's own, to the bit.
    assert report["checkpoint"] == "last"
    assert report["test_accuracy"] == read_results(run)["test_accuracy"]
    card = (run / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert f"**{report['test_accuracy']:.2%}** (" in card
    assert f"`{report['sha256']}`" in card
    assert f"mnistlab train softmax --out {run}" in card
    assert "## Robustness" not in card
    rule = read_calibration(run)["rule"]
    assert f"- Temperature **{rule['temperature']:.4f}**, fitted on the {rule['fitted_on']} " in card
    assert (
        f'score `msp` (the largest calibrated probability); the model answers when it is at least **{rule["threshold"]!r}** and says "not a digit" below'
        in card
    )
    assert "not calibrated" not in card
    # The calibration and abstention on the export's own test split, against the run's logits.
    logits = predict_logits(load_model(run)[0], mnist.test.images)
    before = calibration_metrics(logits, mnist.test.labels, 1.0)
    after = calibration_metrics(logits, mnist.test.labels, rule["temperature"])
    assert (
        f"- On the 10,000 test images of the verification, T = 1 -> calibrated: ECE {before.ece:.2%} -> "
        f"{after.ece:.2%}, NLL {before.nll:.4f} -> {after.nll:.4f}, Brier {before.brier:.4f} -> {after.brier:.4f}"
    ) in card
    refused = AbstentionRule.from_dict(rule).abstains(logits).double().mean()
    assert f"The rule refuses {float(refused):.2%} of them" in card
    assert "## What it refuses" not in card  # no ood.json: `evaluate --ood` never ran


def test_the_model_card_shows_what_evaluate_ood_measured(
    onnx_extra,
    tiny_runs: dict[str, Path],
    small_test: Split,
    data_dir: Path,
    tmp_path: Path,
    capsys,
    monkeypatch,
) -> None:
    from mnistlab.evaluation import trust
    from mnistlab.export.model_card import render_model_card
    from mnistlab.reader.abstention import fit_rule

    run = _copy_run(tiny_runs["softmax"], tmp_path)
    assert main(["evaluate", str(run), "--ood", "--json", "--data-dir", str(data_dir)]) == 0
    printed = json.loads(capsys.readouterr().out)
    result = export_run(run, test=small_test)
    card = result.card_path.read_text(encoding="utf-8")
    assert "## What it refuses" in card and "another rule" not in card
    for o in printed["outliers"]:
        row = f"| {o['outliers']} | {o['images']:,} | {o['auroc']:.4f} | {o['fpr_at_95_tpr']:.2%} | {o['abstained']:.2%} |"
        assert row in card
    assert "| fashion-mnist | 10,000 |" in card
    # Refitted since: the card says its table is stale.
    logits = predict_logits(load_model(run)[0], small_test.images)
    refitted = fit_rule(logits, "msp", result.rule.temperature, 0.05, "a refit")
    stale = render_model_card(dataclasses.replace(result, rule=refitted))
    assert "**Measured with another rule than this export's**" in stale
    # A folder it cannot write to (an installed run) keeps the report on the screen, with a note.
    monkeypatch.setattr(
        trust,
        "write_ood",
        lambda *a: (_ for _ in ()).throw(PermissionError(13, "Permission denied")),
    )
    assert trust.keep_ood(str(run), printed) == (None, f"{run}/ood.json not written (Permission denied).")
    assert main(["evaluate", str(run), "--ood", "--data-dir", str(data_dir)]) == 0
    assert capsys.readouterr().err == f"mnistlab: note: {run}/ood.json not written (Permission denied).\n"


def test_verification_failure_leaves_no_file(
    onnx_extra, tiny_runs: dict[str, Path], tmp_path: Path, capsys, monkeypatch
) -> None:
    import mnistlab.export.onnx

    real = mnistlab.export.onnx.run_onnx
    monkeypatch.setattr(mnistlab.export.onnx, "run_onnx", lambda *a, **k: real(*a, **k) + 1e-3)
    run = _copy_run(tiny_runs["softmax"], tmp_path)
    line = _one_line_error(capsys, ["export", str(run)], 1)
    assert "disagrees with torch" in line and "no file was written" in line
    assert _leftovers(run) == []


# -- the decision: temperature and abstention rule, reproduced from the metadata alone -----------


def decide_from_metadata(path: Path, images: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What an onnxruntime user does with the file and nothing else: calibrated probabilities,
    the rule's score and its abstentions, for uint8 images (N, 28, 28)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    temperature, rule = float(meta["temperature"]), json.loads(meta["abstention"])
    x = (images.astype(np.float32) / 255.0)[:, None]
    logits = np.concatenate(
        [session.run(["logits"], {"images": x[i : i + 1000]})[0] for i in range(0, len(x), 1000)]
    )
    z = logits.astype(np.float64) / temperature
    top = z.max(axis=1, keepdims=True)
    e = np.exp(z - top)
    p = e / e.sum(axis=1, keepdims=True)
    if rule["score"] == "msp":
        score = p.max(axis=1)
    else:
        assert rule["score"] == "energy"
        score = temperature * (top[:, 0] + np.log(e.sum(axis=1)))
    abstain = np.zeros(len(x), bool) if rule["threshold"] is None else score < rule["threshold"]
    return p, score, abstain


# The run's own rule (msp, as training fits it) on half the test split; an energy rule fitted on
# validation as training would, refusing 5 % there, on the first 1,000 test images to save time.
@pytest.mark.parametrize(("score", "quantile", "images"), [("msp", None, 5_000), ("energy", 0.05, 1_000)])
def test_onnxruntime_reproduces_the_readers_decisions_on_the_test_split(
    onnx_extra, cnn_run: Path, mnist: Dataset, tmp_path: Path, score: str, quantile: float | None, images: int
) -> None:
    run = _copy_run(cnn_run, tmp_path)
    if quantile is not None:
        model = load_model(run)[0]
        write_calibration(run, fit_calibration(model, mnist.val, "mnist", score=score, quantile=quantile))
    test = Split(mnist.test.images[:images], mnist.test.labels[:images])
    result = export_run(run, test=test)
    assert result.rule.score == score and result.metadata["calibrated"] == "true"

    p, scores, abstain = decide_from_metadata(result.path, test.images.numpy())
    readings = Reader.from_run(run).read(test.images)
    expected = np.array([r.abstain for r in readings])
    assert len(expected) == images and 0 < expected.sum() < images / 5  # it refuses some, not many
    assert np.array_equal(abstain, expected)
    np.testing.assert_allclose(scores, [r.score for r in readings], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(p, [r.prediction.probabilities for r in readings], atol=1e-5)
    labels = [r.label for r in readings]
    assert [None if a else int(c) for a, c in zip(abstain, p.argmax(axis=1), strict=True)] == labels


def test_an_uncalibrated_run_exports_as_such(
    onnx_extra, tiny_runs: dict[str, Path], small_test: Split, tmp_path: Path
) -> None:
    run = _copy_run(tiny_runs["softmax"], tmp_path)
    (run / "calibration.json").unlink()  # trained before calibration existed
    result = export_run(run, test=small_test)
    metadata = result.metadata
    assert (metadata["calibrated"], float(metadata["temperature"])) == ("false", 1.0)
    assert json.loads(metadata["abstention"]) == {
        "score": "msp",
        "temperature": 1.0,
        "threshold": 0.0,
        "quantile": 0.0,
        "fitted_on": "none",
    }
    _, _, abstain = decide_from_metadata(result.path, small_test.images.numpy())
    assert not abstain.any()
    card = result.card_path.read_text(encoding="utf-8")
    assert "- **This run was not calibrated**: it has no calibration.json" in card
    assert "it never abstains" in card and f"`mnistlab calibrate {run}`" in card
    assert "Its probabilities are not calibrated." in card and "Temperature **" not in card


# -- bad input: one sentence, exit 1 or 2, nothing written ------------------------------------


def test_run_without_a_finished_checkpoint(
    onnx_extra, tiny_runs: dict[str, Path], tmp_path: Path, capsys
) -> None:
    run = _copy_run(tiny_runs["softmax"], tmp_path)
    (run / "results.json").unlink()  # an interrupted run
    line = _one_line_error(capsys, ["export", str(run)], 1)
    assert "has no results.json" in line and "--checkpoint last" in line
    for name in ("state.json", "best.safetensors"):
        (run / name).unlink()
    for which in ("last", "best"):
        line = _one_line_error(capsys, ["export", str(run), "--checkpoint", which], 1)
        assert "has no" in line
    assert _leftovers(run) == []


def test_unknown_format_is_a_usage_error(tiny_runs: dict[str, Path], capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["export", str(tiny_runs["softmax"]), "--format", "tflite"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'tflite'" in capsys.readouterr().err
    with pytest.raises(UsageError, match="Unknown export format 'tflite'"):
        export_run(tiny_runs["softmax"], fmt="tflite")


def test_output_in_a_missing_folder(tiny_runs: dict[str, Path], tmp_path: Path, capsys) -> None:
    out = tmp_path / "missing" / "model.onnx"
    line = _one_line_error(capsys, ["export", str(tiny_runs["softmax"]), "--out", str(out)], 2)
    assert "does not exist" in line
    assert not out.parent.exists()


def test_weights_that_do_not_fit_the_config(
    onnx_extra, tiny_runs: dict[str, Path], tmp_path: Path, capsys
) -> None:
    run = _copy_run(tiny_runs["cnn_bn"], tmp_path)
    saved = json.loads((run / "config.json").read_text())
    saved["config"]["model_options"]["widths"] = [8, 16, 32]
    (run / "config.json").write_text(json.dumps(saved))
    line = _one_line_error(capsys, ["export", str(run)], 1)
    assert "does not fit model 'cnn_bn'" in line
    assert _leftovers(run) == []


def test_missing_extra_names_the_install_command(
    tiny_runs: dict[str, Path], tmp_path: Path, capsys, monkeypatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnxscript", None)  # import onnxscript now fails
    with pytest.raises(ExportError, match="onnxscript"):
        require_export_packages()
    line = _one_line_error(
        capsys, ["export", str(tiny_runs["softmax"]), "--out", str(tmp_path / "m.onnx")], 1
    )
    assert "pip install 'mnistlab[export]'" in line
    assert list(tmp_path.iterdir()) == []


# -- the pieces ---------------------------------------------------------------------------------


def test_compare_logits_closed_form() -> None:
    reference = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    # Off-diagonal zeros moved by powers of two, exact in float32: max difference 2**-15.
    close = compare_logits(reference, reference + torch.tensor([[0.0, 2.0**-15], [-(2.0**-16), 0.0]]))
    assert close.passed and close.max_abs_logit_diff == 2.0**-15 and close.argmax_agreement == 1.0
    assert not compare_logits(reference, reference + 2e-4).passed
    flipped = compare_logits(reference, torch.tensor([[1.0, 0.0], [1.0, 0.0]]))
    assert flipped.argmax_agreement == 0.5 and not flipped.passed
    with pytest.raises(ExportError, match="shape"):
        compare_logits(reference, reference[:1])


def test_train_command_rebuilds_the_exact_config(tmp_path: Path) -> None:
    config = resolve_config("cnn", "fast", overrides={"steps": 215, "seed": 3, "lr": 0.2, "eval_every": 215})
    config = TrainConfig.from_dict({**config.to_dict(), "label_smoothing": 0.05})
    command = train_command(config, tmp_path / "run")
    assert command is not None and command.config_file == {"label_smoothing": 0.05}
    assert str(command).startswith("mnistlab train cnn --recipe fast --steps 215 --lr 0.2 --seed 3")
    (tmp_path / "config-overrides.json").write_text(json.dumps(command.config_file))
    argv = [a if a != "config-overrides.json" else str(tmp_path / a) for a in command.argv[1:]]
    rebuilt, run_dir, _ = resolve_run(build_parser().parse_args(argv))
    assert rebuilt == config and run_dir == tmp_path / "run"


def test_dataset_record_prefers_the_runs_dataset_json(tmp_path: Path) -> None:
    config = TrainConfig()
    write_run_config(tmp_path, config, {})
    from_registry = exported_record(read_dataset_record(tmp_path))
    assert from_registry["name"] == "mnist" and from_registry["classes"] == list("0123456789")
    assert from_registry["sha256"]["test_labels"] == get_dataset_spec("mnist").test_labels.sha256
    assert from_registry["source"] == "built-in"
    record = {"name": "mnist", "classes": list("abcdefghij"), "sha256": {"train_images": "ab" * 32}}
    (tmp_path / "dataset.json").write_text(json.dumps(record))
    saved = exported_record(read_dataset_record(tmp_path))
    assert saved["classes"] == list("abcdefghij") and saved["sha256"] == record["sha256"]
    assert saved["source"] == "dataset.json of the run"  # written without a source: in-memory data
    (tmp_path / "dataset.json").write_text(json.dumps({**record, "sha256": None}))
    assert exported_record(read_dataset_record(tmp_path))["sha256"] == from_registry["sha256"]


def test_model_card_renders_a_robustness_file(
    onnx_extra, tiny_runs: dict[str, Path], small_test: Split, tmp_path: Path
) -> None:
    run = _copy_run(tiny_runs["softmax"], tmp_path)
    robustness = {"corruptions": {"rotate-15": {"accuracy": 0.875}, "noise-0.3": {"accuracy": 0.5}}}
    (run / "robustness.json").write_text(json.dumps(robustness))
    card = export_run(run, test=small_test).card_path.read_text(encoding="utf-8")
    assert "| corruptions.rotate-15.accuracy | 87.50% |" in card
    assert "| corruptions.noise-0.3.accuracy | 50.00% |" in card


def test_the_shipped_readers_not_a_digit_output_exports_as_ten_log_probabilities(
    onnx_extra, mnist: Dataset, tmp_path: Path
) -> None:
    from mnistlab.data.negatives import make_negatives
    from mnistlab.models import pretrained

    run = _copy_run(pretrained.reader_run(), tmp_path)
    letters = make_negatives("letters", 60, split="test", seed=0)
    images = torch.cat([mnist.test.images[:240], letters])
    result = export_run(run, test=Split(mnist.test.images[:240], mnist.test.labels[:240]))
    assert result.rule.score == "energy"
    p, scores, abstain = decide_from_metadata(result.path, images.numpy())
    readings = Reader.from_run(run).read(images)
    assert p.shape == (300, 10)  # the eleventh output, "not a digit", is folded into the ten
    assert np.array_equal(abstain, [r.abstain for r in readings])
    np.testing.assert_allclose(scores, [r.score for r in readings], rtol=1e-5, atol=1e-5)
    assert abstain[240:].mean() > 0.5  # most letters refused in onnxruntime too
