"""The human-readable table of a `run_bench` record: throughput, inference, hardware, parity, records."""

from __future__ import annotations

import statistics
from typing import Any


def _range(stats: dict[str, float], fmt: str) -> str:
    return f"{stats['median']:{fmt}} ({stats['min']:{fmt}}-{stats['max']:{fmt}})"


def format_table(record: dict[str, Any]) -> str:
    """The human-readable summary of a `run_bench` record."""
    rt = record["runtime"]
    load = record.get("load_average_before")
    device = rt["device"] + (f" ({rt['gpu']})" if rt.get("gpu") else "")
    lines = [
        f"mnistlab bench on {device}: torch {rt['torch']}, {rt['threads']} threads, {rt['cpu']}"
        + (f", load {load[0]:.1f}" if load else "")
        + f", {record['precision']['precision']}",
    ]
    if record["training"]:
        lines += [
            "",
            f"Training throughput ({record['precision']['precision']}), images/s: median (min-max)",
            f"  {'model':<9}{'batch':>6}  {'mnistlab':>22}  {'DataLoader reference':>22}  {'ratio':>18}",
        ]
    for task, r in record["training"].items():
        lines.append(
            f"  {task:<9}{r['batch_size']:>6}  {_range(r['mnistlab']['images_per_second'], ',.0f'):>22}  "
            f"{_range(r['reference']['images_per_second'], ',.0f'):>22}  {_range(r['ratio'], '.2f'):>18}"
        )
    if record["inference"]:
        lines += ["", "Inference: images/s at batch 1,000; single-image latency ms p50 / p99"]
    for name, r in record["inference"].items():
        lat = r["latency_ms"]
        lines.append(
            f"  {name:<9}{_range(r['images_per_second'], ',.0f'):>26}   {lat['p50']:.2f} / {lat['p99']:.2f}"
        )
    if record.get("hardware"):
        lines += hardware_lines(record["hardware"])
    if record.get("parity"):
        lines += parity_lines(record["parity"])
    lines += accuracy_lines(record["time_to_accuracy"])
    lines += flops_lines(record.get("flops_to_accuracy") or [])
    if record["training"]:
        lines += [
            "",
            "Peak RSS, MiB: "
            + ", ".join(
                f"{task} mnistlab {r['mnistlab']['peak_rss_mib'] or float('nan'):.0f} / reference "
                f"{r['reference']['peak_rss_mib'] or float('nan'):.0f}"
                for task, r in record["training"].items()
            ),
        ]
    return "\n".join(lines)


def hardware_lines(hw: dict[str, Any]) -> list[str]:
    mm, n = hw["matmul_gflops"], hw["matmul_size"]
    device = hw.get("device", "cpu")  # records made before --device ran on the CPU
    chip = "CPU" if device == "cpu" else "GPU"
    native = "native" if hw["bf16"]["native"] else f"EMULATED (no native bf16 on this {chip})"
    rates = ", ".join(f"{p} {_range(stats, ',.0f')}" for p, stats in mm.items())
    lines = [
        "",
        f"Matmul {n}x{n} on {device}, GFLOP/s: {rates} (bf16 {native})",
        "Training fp32 vs bf16, alternating: FLOPs/image counted by FlopCounterMode (fwd + bwd);",
        "GFLOP/s achieved and % of that precision's matmul rate",
        f"  {'model':<9}{'MFLOP/img':>10}  {'fp32 img/s':>11}{'GFLOP/s':>9}{'%':>6}  "
        f"{'bf16 img/s':>11}{'GFLOP/s':>9}{'%':>6}  {'bf16/fp32':>18}",
    ]
    rows = {(r["model"], r["precision"]): r for r in hw["roofline"]}
    for model, t in hw["training"].items():
        cells = "  ".join(
            f"{rows[model, p]['images_per_second']:>11,.0f}{rows[model, p]['gflops']:>9.1f}"
            f"{rows[model, p]['percent_of_matmul']:>6.0f}"
            for p in ("fp32", "bf16")
        )
        lines.append(
            f"  {model:<9}{hw['flops_per_image'][model] / 1e6:>10.2f}  {cells}  "
            f"{_range(t['bf16_over_fp32'], '.2f'):>18}"
        )
    return lines


def parity_lines(par: dict[str, Any]) -> list[str]:
    lines = [
        "",
        f"fp32 vs bf16, fast recipe, seeds {' '.join(map(str, par['seeds']))}, fresh processes: "
        f"wall s from process start to a tested model (target {par['target']:.2%})",
    ]
    for precision, r in par["by_precision"].items():
        b = r["breakdown"]
        phases = (
            f"; import {b['import']:.1f} + data {b['data']:.2f} + train {b['train']:.1f} + "
            f"evaluate/rest {b['evaluate_and_rest']:.1f} s"
            if b
            else ""
        )
        lines.append(
            f"  {precision}: {_range(r['wall_seconds'], '.1f')} s, test {_range(r['test_accuracy'], '.2%')}, "
            f"{r['reached']}/{len(r['runs'])} reached it{phases}"
        )
    lines.append(
        f"  bf16 speed-up: {par['wall_speedup']:.2f}x wall, {par['train_speedup']:.2f}x training; "
        f"mean test accuracy bf16 - fp32: {par['accuracy_difference_points']:+.2f} points"
    )
    return lines


def _label(r: dict[str, Any]) -> str:
    return r.get("label") or r.get("recipe", "fast") + (f" --steps {r['steps']}" if r.get("steps") else "")


def accuracy_lines(timed: list[dict[str, Any]]) -> list[str]:
    if not timed:
        return []
    lines = [
        "",
        "Time to accuracy, wall s from process start (median of seeds; recipes alternate seed by seed)",
    ]
    for r in timed:
        runs = r["runs"]
        lines.append(
            f"  >= {r['target']:.2%}  {_label(r):<17} {_range(r['wall_seconds'], '.1f')} s, test "
            f"{_range(r['test_accuracy'], '.2%')}, {r['reached']}/{len(runs)} seeds reached it, "
            f"peak RSS {max(x['peak_rss_mib'] for x in runs):.0f} MiB"
        )
        phases = [x["breakdown"] for x in runs if x.get("breakdown")]
        if phases:
            median = {k: statistics.median(b[k] for b in phases) for k in phases[0]}
            lines.append(
                f"  {'':<10}{'':<18} import {median['import']:.1f} + data {median['data']:.2f} + train "
                f"{median['train']:.1f} + evaluate/rest {median['evaluate_and_rest']:.1f} s (medians)"
            )
    return lines


def flops_lines(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return []
    lines = [
        "",
        "Training FLOPs to accuracy: FlopCounterMode's FLOPs per training image (fwd + bwd) x images seen;",
        "evaluation: forward FLOPs x validation images x passes, and x the test split once",
        f"  {'target':<10} {'recipe':<17} {'MFLOP/img':>9} {'images':>8} {'train TFLOP':>11} "
        f"{'val GFLOP':>9} {'test GFLOP':>10}  reached",
    ]
    for r in rows:
        reached = (
            f"{r['reached']}/{r['seeds']}, test {r['test_accuracy']['median']:.2%}" if "reached" in r else "-"
        )
        lines.append(
            f"  >= {r['target']:.2%}  {_label(r):<17} {r['training_flops_per_image'] / 1e6:>9.2f} "
            f"{r['images_seen']:>8,} {r['training_flops'] / 1e12:>11.3f} {r['validation_flops'] / 1e9:>9.1f} "
            f"{r['test_flops'] / 1e9:>10.1f}  {reached}"
        )
    return lines
