"""`mnistlab bench --device`: the whole bench runs where it is asked to, and says where.

The CLI runs end to end with `--quick` shrunk to a tiny plan (a few seconds on a CPU);
the CUDA test runs only where CUDA exists, the missing-CUDA one only where it does not.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from mnistlab.bench import BenchPlan
from mnistlab.bench.accuracy import timed_train
from mnistlab.bench.table import format_table
from mnistlab.cli import main
from mnistlab.commands import bench as bench_command

from .test_bench import TINY_PLAN as TINY

CUDA = torch.cuda.is_available()


def run_quick_bench(
    monkeypatch: pytest.MonkeyPatch, plan: BenchPlan, out: Path, *flags: str
) -> dict[str, Any]:
    """`mnistlab bench --quick --seeds --json OUT FLAGS` with `plan` as --quick's plan; the JSON record."""

    class Tiny(BenchPlan):
        @classmethod
        def quick(cls) -> BenchPlan:
            return plan

    monkeypatch.setattr(bench_command, "BenchPlan", Tiny)
    assert main(["bench", "--quick", "--seeds", "--json", str(out), *flags]) == 0
    return json.loads(out.read_text())


def test_bench_on_the_cpu_records_the_cpu_everywhere(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], data_dir: Path, tmp_path: Path
) -> None:
    record = run_quick_bench(
        monkeypatch, TINY, tmp_path / "bench.json", "--device", "cpu", "--data-dir", str(data_dir)
    )
    table = capsys.readouterr().out
    assert record["runtime"]["device"] == "cpu" and "gpu" not in record["runtime"]
    assert record["hardware"]["device"] == "cpu" and record["hardware"]["matmul_size"] == 128
    assert set(record["hardware"]["matmul_gflops"]) == {"fp32", "bf16"}  # fp16 is CUDA's only
    assert record["time_to_accuracy"] == [] and record["parity"] is None
    assert table.startswith("mnistlab bench on cpu: torch ")
    assert "Matmul 128x128 on cpu, GFLOP/s: fp32 " in table

    # The same record made on a GPU names it in the table's first line.
    record["runtime"] |= {"device": "cuda", "gpu": "NVIDIA H100 80GB HBM3"}
    assert format_table(record).startswith("mnistlab bench on cuda (NVIDIA H100 80GB HBM3): ")


@pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")
def test_bench_on_cuda_runs_there_and_names_the_gpu(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], data_dir: Path, tmp_path: Path
) -> None:
    plan = dataclasses.replace(TINY, matmul_size=None)  # the GPU's own ceiling, 8192 x 8192
    record = run_quick_bench(
        monkeypatch,
        plan,
        tmp_path / "bench.json",
        *("--device", "cuda", "--precision", "fp16", "--data-dir", str(data_dir)),
    )
    table = capsys.readouterr().out
    gpu = torch.cuda.get_device_name()
    assert record["runtime"]["device"] == "cuda" and record["runtime"]["gpu"] == gpu
    assert record["precision"]["precision"] == "fp16"
    hw = record["hardware"]
    assert hw["device"] == "cuda" and hw["matmul_size"] == 8192
    assert set(hw["matmul_gflops"]) == {"fp32", "bf16", "fp16"}
    assert all(s["median"] > 0 for s in hw["matmul_gflops"].values())
    assert all(r["mnistlab"]["images_per_second"]["median"] > 0 for r in record["training"].values())
    assert f"mnistlab bench on cuda ({gpu})" in table

    # The fresh-process runs get the device too.
    run = timed_train("softmax", "softmax", seed=0, steps=20, data_dir=data_dir, device="cuda")
    assert 0.5 < run.test_accuracy <= 1.0


@pytest.mark.skipif(CUDA, reason="checks the error a machine without CUDA gives")
def test_bench_on_cuda_without_cuda_is_one_sentence_and_a_non_zero_exit(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mnistlab",
            "bench",
            "--device",
            "cuda",
            "--quick",
            "--seeds",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "mnistlab: error: --device cuda was asked for but is not available here; use --device cpu."
    ]
    assert list(tmp_path.iterdir()) == []  # no record, not even a temporary one
