"""Test milestones (accuracy against steps, selecting nothing) and the precision switch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mnistlab import runtime
from mnistlab.config import resolve_config
from mnistlab.data import Dataset
from mnistlab.errors import UsageError
from mnistlab.training.loop import train


def test_a_milestone_equals_a_shorter_run_of_the_same_seed(mnist: Dataset, tmp_path: Path) -> None:
    # Plain gradient descent at a constant rate: the first 100 steps of a 300-step run are a
    # 100-step run, so its milestone at step 100 is that run's final test accuracy exactly.
    long = resolve_config("softmax", overrides={"steps": 300, "test_milestones": [100, 200], "seed": 3})
    result = train(long, mnist, run_dir=tmp_path / "long")
    short = train(resolve_config("softmax", overrides={"steps": 100, "seed": 3}), mnist)
    milestones = json.loads((tmp_path / "long" / "results.json").read_text())["test_milestones"]
    assert [m["step"] for m in milestones] == [100, 200, 300]
    assert milestones[0]["test_accuracy"] == short.test_accuracy
    assert milestones[-1]["test_accuracy"] == result.test_accuracy
    # They select nothing: the run's best checkpoint is chosen on validation alone.
    assert result.summary["best_val_accuracy"] == result.best_val_accuracy


def test_milestones_survive_a_resume(mnist: Dataset, tmp_path: Path) -> None:
    config = resolve_config(
        "softmax", overrides={"steps": 200, "eval_every": 100, "test_milestones": [50], "seed": 1}
    )
    calls = iter(range(10_000))
    stopped = train(config, mnist, run_dir=tmp_path, should_stop=lambda: next(calls) >= 150)
    assert stopped.interrupted and stopped.step == 150  # saved at 100, after the milestone
    resumed = train(config, mnist, run_dir=tmp_path, resume=True)
    whole = train(config, mnist)
    assert resumed.summary["test_milestones"] == whole.summary["test_milestones"]
    assert [m["step"] for m in whole.summary["test_milestones"]] == [50, 200]


def test_bad_milestones_and_precisions_are_one_sentence_usage_errors() -> None:
    with pytest.raises(UsageError, match="test_milestones must be positive"):
        resolve_config("softmax", overrides={"test_milestones": [0]})
    with pytest.raises(UsageError, match="precision must be one of"):
        resolve_config("softmax", overrides={"precision": "fp8"})
    with pytest.raises(UsageError, match="needs a CUDA device"):
        runtime.check_precision("fp16", "cpu")


def test_bf16_autocast_trains_with_fp32_weights_and_records_it(mnist: Dataset) -> None:
    config = resolve_config("cnn", "fast", overrides={"steps": 30, "eval_every": 30, "precision": "bf16"})
    result = train(config, mnist)
    assert all(p.dtype == torch.float32 for p in result.model.parameters())
    assert result.summary["precision"] == runtime.describe_precision("bf16", "cpu")
    assert result.test_accuracy > 0.5  # 30 steps of the fast recipe: far above chance either way


def test_autocast_really_lowers_the_matmul_precision() -> None:
    a = torch.full((4, 4), 1.0 + 2**-12)  # not representable in bf16's 8-bit mantissa
    with runtime.autocast("bf16", "cpu"):
        low = a @ a
    with runtime.autocast("fp32", "cpu"):
        full = a @ a
    assert low.dtype == torch.bfloat16 and full.dtype == torch.float32
    assert float(full[0, 0]) != float(low[0, 0].float())


def test_native_bf16_follows_the_cpu_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "cpu_flags", lambda: {"avx2", "avx512_bf16"})
    assert runtime.native_bf16("cpu") and runtime.emulation_warning("bf16", "cpu") is None
    monkeypatch.setattr(runtime, "cpu_flags", lambda: {"avx2"})
    assert not runtime.native_bf16("cpu")
    assert "emulated" in runtime.emulation_warning("bf16", "cpu")
    assert runtime.describe_precision("bf16", "cpu") == {"precision": "bf16", "native": False}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU; none on this machine")
def test_fp16_on_cuda_trains_with_loss_scaling(mnist: Dataset) -> None:
    config = resolve_config("cnn", "fast", overrides={"steps": 30, "eval_every": 30, "precision": "fp16"})
    result = train(config, mnist, device="cuda")
    assert result.test_accuracy > 0.5
    assert result.summary["precision"]["precision"] == "fp16"
