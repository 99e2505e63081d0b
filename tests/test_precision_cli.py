"""`--precision` on the command line: train, evaluate, reproduce, bench; the CUDA path where CUDA exists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mnistlab import runtime
from mnistlab.cli import main
from mnistlab.reproduce.experiments import available_experiments, with_precision
from mnistlab.reproduce.plan import plan

NO_CUDA = not torch.cuda.is_available()
NEEDS_CUDA = pytest.mark.skipif(NO_CUDA, reason="needs a CUDA GPU; none on this machine")


def test_train_records_and_prints_the_precision(capsys, data_dir: Path, tmp_path: Path) -> None:
    argv = ["train", "softmax", "--steps", "20", "--eval-every", "20", "--precision", "bf16"]
    argv += ["--threads", "1", "--data-dir", str(data_dir), "--out", str(tmp_path / "run")]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("softmax (softmax, bf16), 20 steps")
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["precision"] == runtime.describe_precision("bf16", "cpu")
    assert json.loads((tmp_path / "run" / "config.json").read_text())["config"]["precision"] == "bf16"


def test_train_json_has_the_startup_breakdown(capsys, data_dir: Path, tmp_path: Path) -> None:
    argv = ["train", "softmax", "--steps", "5", "--eval-every", "5", "--threads", "1", "--json"]
    argv += ["--data-dir", str(data_dir), "--out", str(tmp_path / "run")]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    startup = summary["startup"]
    # In-process (pytest) the "imports" are everything since the interpreter started.
    assert 0 < startup["import_seconds"] <= summary["wall_seconds_since_process_start"]
    assert startup["data_seconds"] >= 0
    assert summary["precision"] == {"precision": "fp32", "native": True}


def test_emulated_bf16_prints_one_warning_line(
    capsys, monkeypatch: pytest.MonkeyPatch, data_dir: Path, tmp_path: Path
) -> None:
    monkeypatch.setattr(runtime, "cpu_flags", lambda: {"avx2"})
    argv = ["train", "softmax", "--steps", "2", "--eval-every", "2", "--precision", "bf16"]
    argv += ["--threads", "1", "--data-dir", str(data_dir), "--out", str(tmp_path / "run")]
    assert main(argv) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "emulated" in line]
    assert warnings == [f"mnistlab: {runtime.emulation_warning('bf16', 'cpu')}"]


def test_fp16_on_a_cpu_is_a_one_line_usage_error(capsys, data_dir: Path, tmp_path: Path) -> None:
    for argv in (
        ["train", "softmax", "--precision", "fp16", "--device", "cpu", "--out", str(tmp_path / "r")],
        ["reproduce", "--precision", "fp16", "--device", "cpu", "--out", str(tmp_path / "rep")],
        ["bench", "--quick", "--precision", "fp16", "--device", "cpu"],
    ):
        assert main([*argv, "--data-dir", str(data_dir)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "needs a CUDA device" in err[0], err
    assert not (tmp_path / "r").exists() and not (tmp_path / "rep").exists()


def test_precision_with_resume_is_refused(capsys, tmp_path: Path) -> None:
    assert main(["train", "softmax", "--resume", str(tmp_path), "--precision", "bf16"]) == 2
    assert "--precision cannot be combined with --resume" in capsys.readouterr().err


def test_evaluate_under_bf16_autocast(capsys, softmax_run: Path, data_dir: Path) -> None:
    base = ["evaluate", str(softmax_run), "--json", "--data-dir", str(data_dir)]
    assert main(base) == 0
    fp32 = json.loads(capsys.readouterr().out)
    assert main([*base, "--precision", "bf16"]) == 0
    bf16 = json.loads(capsys.readouterr().out)
    assert (fp32["precision"], bf16["precision"]) == ("fp32", "bf16")  # default: the run's own
    # Rounding the logits to bf16 moves a few predictions near a tie, no more.
    assert abs(bf16["accuracy"] - fp32["accuracy"]) < 0.005


def test_reproduce_in_bf16_gets_its_own_keys_folders_and_config(tmp_path: Path) -> None:
    experiments = available_experiments()
    same, keys = with_precision(experiments, "fp32")
    assert same == experiments and all(k == v for k, v in keys.items())
    bf16, keys = with_precision(experiments, "bf16")
    assert keys["cnn"] == "cnn-bf16" and [e.key for e in bf16] == [f"{e.key}-bf16" for e in experiments]
    jobs = plan(bf16, [0], tmp_path, only=[keys["softmax-1k"]])
    assert [j.run_dir.name for j in jobs] == ["softmax-1k-bf16-s0"]
    assert jobs[0].config.precision == "bf16" and jobs[0].config.steps == 1000
    fp32_jobs = plan(experiments, [0], tmp_path, only=["softmax-1k"])
    assert fp32_jobs[0].run_dir != jobs[0].run_dir  # never reuses (or refuses) the fp32 folder


@NEEDS_CUDA
def test_train_on_cuda_in_fp16_from_the_command_line(capsys, data_dir: Path, tmp_path: Path) -> None:
    argv = ["train", "cnn", "--recipe", "fast", "--steps", "30", "--eval-every", "30", "--device", "cuda"]
    argv += ["--precision", "fp16", "--data-dir", str(data_dir), "--out", str(tmp_path / "run"), "--json"]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["precision"] == {"precision": "fp16", "native": True}
    assert summary["test_accuracy"] > 0.5


@NEEDS_CUDA
def test_evaluate_on_cuda_matches_the_cpu(capsys, softmax_run: Path, data_dir: Path) -> None:
    base = ["evaluate", str(softmax_run), "--json", "--data-dir", str(data_dir)]
    assert main([*base, "--device", "cpu"]) == 0
    cpu = json.loads(capsys.readouterr().out)
    assert main([*base, "--device", "cuda"]) == 0
    cuda = json.loads(capsys.readouterr().out)
    assert abs(cuda["accuracy"] - cpu["accuracy"]) <= 0.001  # kernels differ in summation order only


@NEEDS_CUDA
def test_bf16_native_on_cuda_follows_the_compute_capability() -> None:
    major = torch.cuda.get_device_capability(0)[0]
    assert runtime.native_bf16("cuda") == (major >= 8)
