"""The benchmark's roofline and fp32/bf16 rows: FLOP counts against closed forms, arithmetic, rendering."""

from __future__ import annotations

import pytest
import torch

from mnistlab.bench import hardware
from mnistlab.bench.accuracy import TimedRun
from mnistlab.bench.roofline import (
    achieved,
    default_matmul_size,
    matmul_flops,
    matmul_precisions,
    matmul_rate,
    roofline_rows,
    training_flops_per_image,
)
from mnistlab.bench.table import hardware_lines, parity_lines
from mnistlab.config import resolve_config
from mnistlab.models import create_model


def conv(c_in: int, c_out: int, k: int, side: int) -> int:
    """Forward FLOPs of a same-padded k x k convolution per image: 2 per multiply-add."""
    return 2 * k * k * c_in * c_out * side * side


def test_softmax_training_flops_are_forward_plus_the_weight_gradient() -> None:
    # Forward x @ W: 2 * 784 * 10. Backward: dW = x^T @ dy costs the same; no gradient for
    # the images. FlopCounterMode does not count the bias add or the softmax.
    assert training_flops_per_image(create_model("softmax")) == 2 * (2 * 784 * 10)


def test_paper_cnn_flops_match_the_closed_form() -> None:
    conv1, conv2 = conv(1, 32, 5, 28), conv(32, 64, 5, 14)
    fc1, fc2 = 2 * 3136 * 1024, 2 * 1024 * 10
    forward = conv1 + conv2 + fc1 + fc2
    # Backward: weight and input gradients each cost a forward, except conv1's input gradient.
    assert training_flops_per_image(create_model("cnn")) == 3 * forward - conv1
    assert forward == 27_767_808  # ~14 M multiply-adds, as the model's docstring says


def test_fast_cnn_flops_match_the_closed_form() -> None:
    config = resolve_config("cnn", "fast")
    model = create_model(config.model, **config.model_options)
    c1, c2, c3 = conv(1, 16, 3, 28), conv(16, 32, 3, 14), conv(32, 64, 3, 7)
    head = 2 * 64 * 3 * 3 * 10
    assert training_flops_per_image(model, batch_size=8) == 3 * (c1 + c2 + c3 + head) - c1
    assert hardware.model_flops(config) == 3 * (c1 + c2 + c3 + head) - c1


def test_matmul_rate_is_flops_over_seconds() -> None:
    assert matmul_flops(2048) == 2 * 2048**3
    stats = matmul_rate("fp32", size=64, repeats=3)
    assert stats.count == 3 and 0 < stats.min <= stats.median <= stats.max
    assert matmul_rate("bf16", size=64, repeats=1).count == 1


def test_achieved_rate_and_percent_of_the_matmul_rate() -> None:
    assert achieved(82e6, 1000, 164) == pytest.approx({"gflops": 82.0, "percent_of_matmul": 50.0})
    rows = roofline_rows({"cnn": 2e6}, {"cnn": {"fp32": 500.0, "bf16": 1000.0}}, {"fp32": 10.0, "bf16": 40.0})
    assert [(r["precision"], r["gflops"], r["percent_of_matmul"]) for r in rows] == [
        ("fp32", pytest.approx(1.0), pytest.approx(10.0)),
        ("bf16", pytest.approx(2.0), pytest.approx(5.0)),
    ]


def test_precision_throughput_alternates_and_reports_the_ratio_of_each_round(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []

    def fake_intervals(config, data, *, interval, intervals, device):
        calls.append(config.precision)
        assert device == "cuda"  # passed through as given; nothing runs on it here
        # warm-up interval first; then bf16 takes half fp32's time per interval.
        per = 2.0 if config.precision == "fp32" else 1.0
        return [99.0] + [per] * (intervals - 2)

    monkeypatch.setattr(hardware, "engine_intervals", fake_intervals)
    config = resolve_config("cnn", "cnn")
    record = hardware.precision_throughput(
        config,
        None,  # type: ignore[arg-type]  # the fake engine reads no data
        interval=10,
        rounds=2,
        device="cuda",
    )
    assert calls == ["fp32", "bf16", "fp32", "bf16"]
    images = 10 * config.batch_size
    assert record["images_per_second"]["fp32"]["median"] == images / 2.0
    assert record["images_per_second"]["fp32"]["count"] == 4  # 2 timed intervals x 2 rounds
    assert record["bf16_over_fp32"] == {"median": 2.0, "min": 2.0, "max": 2.0, "count": 2}


def fake_run(seed: int, precision: str, wall: float, train: float, accuracy: float) -> TimedRun:
    return TimedRun(
        seed, None, wall, train, accuracy, 300.0, precision, import_seconds=1.0, data_seconds=0.25
    )


def test_timed_run_breakdown_sums_to_the_wall_time() -> None:
    run = fake_run(0, "fp32", wall=10.0, train=8.0, accuracy=0.993)
    assert run.breakdown() == {"import": 1.0, "data": 0.25, "train": 8.0, "evaluate_and_rest": 0.75}
    assert TimedRun(0, None, 1.0, 0.5, 0.9, 1.0).breakdown() is None  # a child without timeline


def test_parity_alternates_precisions_and_compares_them(monkeypatch: pytest.MonkeyPatch) -> None:
    order: list[tuple[int, str]] = []
    results = {"fp32": (12.0, 10.0, 0.9930), "bf16": (8.0, 6.0, 0.9925)}

    def fake_timed_train(task, recipe, seed, *, threads, data_dir, precision, device):
        order.append((seed, precision))
        assert device == "cuda"  # every child gets the bench's --device
        wall, train, accuracy = results[precision]
        return fake_run(seed, precision, wall, train, accuracy)

    monkeypatch.setattr(hardware, "timed_train", fake_timed_train)
    record = hardware.parity([0, 1], device="cuda")
    assert order == [(0, "fp32"), (0, "bf16"), (1, "fp32"), (1, "bf16")]
    assert record["wall_speedup"] == pytest.approx(1.5)
    assert record["train_speedup"] == pytest.approx(10 / 6)
    assert record["accuracy_difference_points"] == pytest.approx(-0.05)
    assert record["by_precision"]["bf16"]["reached"] == 0  # 99.25 % < 99.27 %
    assert record["by_precision"]["fp32"]["breakdown"]["evaluate_and_rest"] == pytest.approx(0.75)

    text = "\n".join(parity_lines(record))
    assert "1.50x wall, 1.67x training" in text and "-0.05 points" in text
    assert "fp32: 12.0 (12.0-12.0) s, test 99.30% (99.30%-99.30%), 2/2 reached it" in text
    assert "import 1.0 + data 0.25 + train 10.0 + evaluate/rest 0.8 s" in text


def test_hardware_table_shows_flops_rates_and_percent_of_peak() -> None:
    stats = lambda m: {"median": m, "min": m, "max": m, "count": 1}  # noqa: E731
    flops = {"cnn": 82_049_024.0}
    record = {
        "matmul_size": 2048,
        "matmul_gflops": {"fp32": stats(220.0), "bf16": stats(930.0)},
        "flops_per_image": flops,
        "training": {"cnn": {"bf16_over_fp32": stats(2.1)}},
        "roofline": roofline_rows(
            flops, {"cnn": {"fp32": 2800.0, "bf16": 5880.0}}, {"fp32": 220.0, "bf16": 930.0}
        ),
        "bf16": {"precision": "bf16", "native": False},
    }
    text = "\n".join(hardware_lines(record))
    assert "fp32 220 (220-220), bf16 930 (930-930)" in text and "EMULATED" in text
    # 82.05 MFLOP x 2,800 img/s = 229.7 GFLOP/s = 104 % of 220; x 5,880 = 482.4 GFLOP/s = 52 % of 930.
    assert "cnn 82.05 2,800 229.7 104 5,880 482.4 52 2.10 (2.10-2.10)" in " ".join(text.split())


def test_a_gpu_record_names_its_device_and_shows_its_fp16_matmul_rate() -> None:
    stats = lambda m: {"median": m, "min": m, "max": m, "count": 1}  # noqa: E731
    record = {
        "device": "cuda",
        "matmul_size": 8192,
        "matmul_gflops": {"fp32": stats(50_000.0), "bf16": stats(600_000.0), "fp16": stats(610_000.0)},
        "flops_per_image": {},
        "training": {},
        "roofline": [],
        "bf16": {"precision": "bf16", "native": True},
    }
    text = "\n".join(hardware_lines(record))
    assert "Matmul 8192x8192 on cuda, GFLOP/s: fp32 50,000 (50,000-50,000), bf16 600,000" in text
    assert "fp16 610,000 (610,000-610,000) (bf16 native)" in text


def test_the_matmul_ceiling_fits_the_device() -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")  # a device object needs no GPU
    assert (default_matmul_size(cpu), default_matmul_size(cuda)) == (2048, 8192)
    assert matmul_precisions(cpu) == ("fp32", "bf16")
    assert matmul_precisions(cuda) == ("fp32", "bf16", "fp16")
