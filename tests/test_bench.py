"""The benchmark runs and compares like with like; it never asserts a time."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import default_collate

from mnistlab.bench import (
    BenchPlan,
    MnistSamples,
    Stats,
    compare_training,
    percentile,
    reference_loader,
    reference_loss,
    run_bench,
    seconds_since_process_start,
)
from mnistlab.bench.accuracy import timed_train
from mnistlab.bench.records import Target
from mnistlab.bench.table import format_table
from mnistlab.cli import main
from mnistlab.config import resolve_config
from mnistlab.data import Dataset, Split, load_dataset, normalize
from mnistlab.models import create_model


def test_both_pipelines_compute_the_same_loss_on_the_same_batch(mnist: Dataset) -> None:
    config = resolve_config("cnn", "cnn")
    index = torch.arange(0, 50) * 997 % len(mnist.train)
    reference_batch = default_collate([MnistSamples(mnist.train)[int(i)] for i in index])
    ours = normalize(mnist.train.images[index]), mnist.train.labels[index]
    assert torch.equal(reference_batch[0], ours[0])
    assert torch.equal(reference_batch[1], ours[1])
    torch.manual_seed(0)
    model = create_model("cnn").eval()  # no dropout: one forward pass per pipeline
    with torch.no_grad():
        engine_loss = F.cross_entropy(model(ours[0]), ours[1])
        assert torch.equal(reference_loss(model, reference_batch, config), engine_loss)


def test_reference_loader_shuffles_a_permutation_of_the_split(mnist: Dataset) -> None:
    split = Split(mnist.val.images[:300], mnist.val.labels[:300])
    batches = list(reference_loader(split, batch_size=64, seed=0))
    assert [len(b[1]) for b in batches] == [64, 64, 64, 64, 44]
    labels = torch.cat([b[1] for b in batches])
    assert not torch.equal(labels, split.labels)  # shuffled...
    assert torch.equal(labels.sort().values, split.labels.sort().values)  # ...but each image once


def test_stats_and_percentiles_match_closed_forms() -> None:
    stats = Stats.of([3.0, 1.0, 2.0, 10.0])
    assert (stats.median, stats.min, stats.max, stats.count) == (2.5, 1.0, 10.0, 4)
    values = [float(v) for v in range(1, 102)]  # 1..101
    assert percentile(values, 50) == 51.0
    assert percentile(values, 99) == 100.0
    assert percentile([0.0, 10.0], 25) == 2.5


def test_process_age_and_peak_memory_are_measured() -> None:
    first = seconds_since_process_start()
    assert first is not None and first > 0
    time.sleep(0.05)
    assert seconds_since_process_start() >= first + 0.04
    # The peak counter, in a fresh process: in this one, a 64 MiB tensor may land in memory an
    # earlier test freed that is still resident (seen in CI: the peak did not move).
    code = (
        "import torch\n"
        "from mnistlab.bench.timing import peak_rss_mib, reset_peak_rss\n"
        "torch.ones(64 * 2**20 // 4)  # 64 MiB, touched, then freed: a peak above what is resident\n"
        "if reset_peak_rss():\n"
        "    before = peak_rss_mib()\n"
        "    block = torch.ones(64 * 2**20 // 4)\n"
        "    print(peak_rss_mib() - before)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    if out:  # clear_refs is Linux-only
        assert 60 <= float(out) < 200


def test_compare_training_ratio_is_engine_over_reference(mnist: Dataset) -> None:
    config = resolve_config("softmax", "softmax")
    record = compare_training(config, mnist, interval=5, rounds=2)
    ours, theirs, ratio = (record[k] for k in ("mnistlab", "reference", "ratio"))
    assert ours["images_per_second"]["count"] == theirs["images_per_second"]["count"] == 2
    assert ratio["count"] == 2
    assert ours["images_per_second"]["min"] / theirs["images_per_second"]["max"] <= ratio["max"]
    assert ratio["min"] <= ours["images_per_second"]["max"] / theirs["images_per_second"]["min"]


# Every part of the bench, each a step or two: seconds, not minutes (also tests/test_bench_device.py).
TINY_PLAN = BenchPlan(
    rounds=1,
    cnn_interval=2,
    softmax_interval=5,
    inference_images=200,
    inference_repeats=1,
    latency_samples=5,
    accuracy_seeds=(),
    precision_rounds=1,
    fast_interval=2,
    matmul_repeats=1,
    matmul_size=128,
    parity_seeds=(),
)


def test_run_bench_with_a_tiny_plan_produces_a_table(mnist: Dataset) -> None:
    record = run_bench(mnist, TINY_PLAN)
    assert set(record["training"]) == {"softmax", "cnn"}
    assert set(record["inference"]) == {"softmax", "cnn", "cnn_fast"}
    assert record["runtime"]["threads"] == torch.get_num_threads()
    lat = record["inference"]["cnn"]["latency_ms"]
    assert 0 < lat["p50"] <= lat["p99"]
    table = format_table(record)
    assert "DataLoader reference" in table and "cnn_fast" in table
    hw = record["hardware"]
    assert set(hw["training"]) == {"softmax", "cnn", "cnn_fast"} and len(hw["roofline"]) == 6
    assert hw["flops_per_image"]["softmax"] == 4 * 784 * 10
    assert "Matmul 128x128" in table and record["parity"] is None
    # Old and new recipes side by side in the FLOPs-to-accuracy row, counted even without timed runs.
    rows = record["flops_to_accuracy"]
    assert [(r["recipe"], r["target"]) for r in rows] == [
        ("fast", 0.99),
        ("sprint", 0.99),
        ("fast", 0.9927),
        ("sprint_long", 0.9927),
    ]
    assert rows[0]["images_seen"] == 215 * 256 and rows[0]["test_flops"] > 0
    assert "Training FLOPs to accuracy" in table and "sprint_long" in table


def test_timed_train_runs_a_child_process_and_reads_its_result(data_dir: Path) -> None:
    run = timed_train("softmax", "softmax", seed=0, steps=20, data_dir=data_dir, threads=1)
    assert run.wall_seconds > run.train_seconds > 0
    assert 0.5 < run.test_accuracy <= 1.0  # 20 SGD steps of the paper's softmax reach ~85 %
    assert run.peak_rss_mib > 50  # at least torch and MNIST
    phases = run.breakdown()
    assert run.precision == "fp32" and phases is not None and phases["train"] == run.train_seconds
    assert phases["import"] > 0 and phases["data"] >= 0 and phases["evaluate_and_rest"] > 0
    assert sum(phases.values()) == pytest.approx(run.wall_seconds)


def test_bench_plan_quick_skips_time_to_accuracy() -> None:
    quick = BenchPlan.quick()
    assert quick.accuracy_seeds == () and quick.rounds == 1
    assert dataclasses.replace(quick, rounds=3).rounds == 3


def test_records_only_runs_the_accuracy_rows_and_nothing_else(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = Target(0.5, "softmax", steps=20, task="softmax")  # 20 SGD steps reach ~85 %
    plan = dataclasses.replace(BenchPlan.records_only(), accuracy_seeds=(0,), targets=(target,))
    mnist = load_dataset("mnist", data_dir)
    record = run_bench(mnist, plan, data_dir=data_dir, threads=1)
    assert record["training"] == {} and record["inference"] == {} and "hardware" not in record
    assert record["parity"] is None
    (timed,) = record["time_to_accuracy"]
    (row,) = record["flops_to_accuracy"]
    assert timed["reached"] == 1 and row["images_seen"] == 20 * 100
    table = format_table(record)
    assert "Time to accuracy" in table and "Training FLOPs to accuracy" in table
    assert "DataLoader" not in table and "Matmul" not in table and "Peak RSS, MiB" not in table
    assert "import " in table and "evaluate/rest" in table  # the phases of the child's wall time
    capsys.readouterr()
    assert main(["bench", "--quick", "--records"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1  # refused before any measuring
    assert "--quick and --records exclude each other" in captured.err
