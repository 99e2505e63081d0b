"""`reproduce --ablations`: one-override rows of the paper CNN, and never-firing units from the runs' weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mnistlab.data import Dataset, Split
from mnistlab.data.splits import normalize
from mnistlab.evaluation.units import PAPER_CNN_RELU_INPUTS, never_firing
from mnistlab.models import create_model
from mnistlab.report import figures, rows
from mnistlab.report import results as report_results
from mnistlab.report.reproduction import reproduce
from mnistlab.reproduce import experiments
from mnistlab.reproduce.experiments import ABLATIONS, PAPER_EXPERIMENTS, Experiment
from mnistlab.reproduce.plan import plan
from mnistlab.runs import checkpoint as ckpt


def test_each_ablation_changes_only_its_override_of_the_paper_cnn() -> None:
    cnn = PAPER_EXPERIMENTS[2].config(1).to_dict()
    expected = {
        "cnn-no-dropout": {"model_options": {"dropout": 0.0}},
        "cnn-bias0": {"model_options": {"bias_init": 0.0}},
        "cnn-sgd": {"optimizer": "sgd", "momentum": 0.9, "lr": experiments.SGD_MOMENTUM_LR},
        "cnn-fc256": {"model_options": {"hidden": 256}},
    }
    assert [a.key for a in ABLATIONS] == list(expected)
    for ablation in ABLATIONS:
        config = ablation.config(1).to_dict()
        changed = {k: v for k, v in config.items() if cnn[k] != v}
        assert changed == expected[ablation.key]
        assert ablation.baseline == "cnn" and ablation.beyond_paper and ablation.change
        assert create_model("cnn", **config["model_options"])(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    assert [a.key for a in ABLATIONS if a.dead_units] == ["cnn-bias0"]
    assert experiments.available_experiments(ablations=True)[-len(ABLATIONS) :] == ABLATIONS
    assert not {a.key for a in ABLATIONS} & {e.key for e in experiments.available_experiments()}


def test_quick_ablations_get_their_own_reduced_folders() -> None:
    jobs = plan(experiments.available_experiments(ablations=True), (0,), "/tmp/unused", quick=True)
    ablation_jobs = [job for job in jobs if job.experiment.baseline]
    assert [job.run_dir.name for job in ablation_jobs] == [f"{a.key}-quick-s0" for a in ABLATIONS]
    assert {job.config.steps for job in ablation_jobs} == {400}


def _tiny(key: str, **extra) -> Experiment:
    # fc 16 units: checkpoints of the 1024-unit fc (40 MB with Adam's state) dominate a 3-step run.
    options = {"hidden": 16, **extra.pop("model_options", {})}
    overrides = {"steps": 3, "batch_size": 10, "eval_every": 3, "model_options": options}
    return Experiment(key, key, "cnn", overrides=overrides, **extra)


@pytest.mark.slow
def test_bias_ablation_reports_never_firing_units_from_each_runs_weights(
    mnist: Dataset, tmp_path: Path, monkeypatch
) -> None:
    small = Dataset(mnist.name, mnist.classes, mnist.train, Split(mnist.val.images[:300], mnist.val.labels[:300]),
                    Split(mnist.test.images[:300], mnist.test.labels[:300]))  # fmt: skip
    tiny = (
        _tiny("cnn", paper_accuracy=0.9927),
        _tiny("cnn-bias0", model_options={"bias_init": 0.0}, beyond_paper=True, baseline="cnn",
              change="biases at 0", dead_units=True),
    )  # fmt: skip
    monkeypatch.setattr(figures, "figure_specs", lambda *args: [])
    monkeypatch.setattr(report_results, "add_reader", lambda *args: None)  # tested in test_reproduce
    monkeypatch.setattr(report_results, "add_robustness", lambda *args: None)  # and this too
    results = reproduce(small, tmp_path, experiments=tiny, seeds=(0, 1))
    for row in results["experiments"]:
        for run in row["runs"]:
            model, _ = ckpt.load_model(tmp_path / run["run_dir"])
            inputs = normalize(small.val.images)
            assert run["never_firing"] == never_firing(model, inputs, PAPER_CNN_RELU_INPUTS)
        fc1 = [run["never_firing"]["fc1"]["fraction"] for run in row["runs"]]
        assert row["never_firing"]["fc1"]["fraction"] == pytest.approx(sum(fc1) / 2)
    cached = (tmp_path / rows.ANALYSIS_DIR).glob("never-firing-*.json")
    assert sorted(p.name for p in cached) == sorted(
        f"never-firing-{key}-s{seed}.json" for key in ("cnn", "cnn-bias0") for seed in (0, 1)
    )
    page = (tmp_path / "index.html").read_text()
    assert "ReLU units that never fire" in page and "biases at 0 (cnn-bias0)" in page
    # A rebuilt report reads the cache instead of running the models again.
    monkeypatch.setattr(rows, "never_firing", lambda *a, **k: pytest.fail("recomputed a cached count"))
    again = reproduce(small, tmp_path, experiments=tiny, seeds=(0, 1), report_only=True)
    assert again["experiments"] == results["experiments"]
