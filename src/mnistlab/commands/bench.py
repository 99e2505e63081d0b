"""`mnistlab bench [--quick] [--device D] [--json FILE]`: measure mnistlab against the usual PyTorch way."""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
from typing import Any

from mnistlab.bench import BenchPlan, run_bench
from mnistlab.commands.common import add_data_args, add_runtime_args, load_data
from mnistlab.commands.precision_flag import add_precision_arg, check_and_warn
from mnistlab.errors import UsageError
from mnistlab.fileio import atomic_write_json
from mnistlab.runtime import resolve_device, set_threads


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "bench", help="measure training/inference speed and time to 99 %% against a DataLoader reference"
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="one round, few repeats, no time to accuracy, fp32/bf16 parity with seed 0 only "
        "(about a minute on an idle 2-core machine)",
    )
    p.add_argument(
        "--records",
        action="store_true",
        help="only the time-to-accuracy and training-FLOPs-to-accuracy rows: the fast recipe and "
        "the sprint recipes side by side, seed by seed (a few minutes)",
    )
    p.add_argument("--json", metavar="FILE", help="also write every measurement to FILE as JSON")
    p.add_argument("--rounds", type=int, metavar="N", help="alternating rounds per model (default: 5)")
    p.add_argument(
        "--seeds",
        type=int,
        nargs="*",
        metavar="S",
        help="seeds of the fresh-process runs: time to accuracy and fp32/bf16 parity (default: 0 1 2; "
        "--quick: no time to accuracy, parity with seed 0; none: skip both)",
    )
    add_precision_arg(
        p,
        default="fp32",
        help_default="fp32; of the throughput, inference and time-to-accuracy rows, while the "
        "fp32/bf16 rows always measure both",
    )
    add_data_args(p)
    add_runtime_args(p)
    p.set_defaults(handler=run)


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
        lines += _hardware_lines(record["hardware"])
    if record.get("parity"):
        lines += _parity_lines(record["parity"])
    lines += _accuracy_lines(record["time_to_accuracy"])
    lines += _flops_lines(record.get("flops_to_accuracy") or [])
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


def run(args: argparse.Namespace) -> int:
    device = resolve_device(args.device)  # first: a missing GPU is reported before any work
    threads = set_threads(args.threads)
    if args.quick and args.records:
        raise UsageError("--quick and --records exclude each other (--quick runs no time to accuracy).")
    plan = BenchPlan.quick() if args.quick else BenchPlan.records_only() if args.records else BenchPlan()
    if args.rounds is not None:
        if args.rounds <= 0:
            raise UsageError(f"--rounds must be a positive integer, got {args.rounds}.")
        plan = dataclasses.replace(plan, rounds=args.rounds)
    if args.seeds is not None:
        plan = dataclasses.replace(plan, accuracy_seeds=tuple(args.seeds), parity_seeds=tuple(args.seeds))
    check_and_warn(args.precision, device)
    check_and_warn("bf16", device)  # the fp32/bf16 rows run bf16 whatever --precision says
    plan = dataclasses.replace(plan, precision=args.precision)
    data = load_data(args)
    if data.num_classes != 10:
        # The suite's models and its DataLoader reference are built with ten outputs.
        raise UsageError(f"bench measures ten-class models; {data.name} has {data.num_classes} classes.")
    record = run_bench(
        data,
        plan,
        device=device,
        data_dir=args.data_dir,
        threads=threads,
        on_progress=lambda message: print(f"bench: {message}", file=sys.stderr, flush=True),
    )
    print(format_table(record))
    if args.json:
        atomic_write_json(args.json, record)
    return 0


def _hardware_lines(hw: dict[str, Any]) -> list[str]:
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


def _parity_lines(par: dict[str, Any]) -> list[str]:
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


def _accuracy_lines(timed: list[dict[str, Any]]) -> list[str]:
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


def _flops_lines(rows: list[dict[str, Any]]) -> list[str]:
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
