"""`mnistlab train softmax|cnn`: train one model with a recipe, flags override the recipe."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

import torch

from mnistlab.bench.timing import seconds_since_process_start
from mnistlab.commands.common import (
    add_data_args,
    add_json_arg,
    add_runtime_args,
    load_data,
    print_json,
    stop_on_signals,
)
from mnistlab.commands.precision_flag import add_precision_arg, check_and_warn
from mnistlab.commands.progress import StepProgress, format_eta, run_seconds_left
from mnistlab.commands.tensorboard_flag import add_tensorboard_arg, end_events, run_events
from mnistlab.config import TrainConfig, read_config_file
from mnistlab.errors import UsageError
from mnistlab.recipes import RECIPES, TASKS
from mnistlab.runs.progress import restart_note
from mnistlab.runs.record import new_run, resumed_run
from mnistlab.runtime import describe_runtime, resolve_device, set_threads
from mnistlab.training.ddp import from_environment, launched_by_torchrun
from mnistlab.training.exposure import run_pool
from mnistlab.training.loop import train
from mnistlab.training.result import StepReport
from mnistlab.training.strategy import Strategy

# Flags that change the numbers; with --resume they come from the run's config instead.
CONFIG_FLAGS = ("steps", "batch_size", "lr", "seed", "eval_every", "dataset", "precision")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train", help="train a model (softmax: the paper's regression; cnn: its deep net)"
    )
    p.add_argument("task", choices=TASKS, help="what to train")
    p.add_argument(
        "--recipe",
        metavar="NAME",
        help=f"hyper-parameter recipe, one of {', '.join(RECIPES)} (default: the task's, the paper's)",
    )
    p.add_argument("--config", metavar="FILE", help="TOML or JSON file of config keys (flags win)")
    p.add_argument("--steps", type=int, metavar="N", help="optimisation steps")
    p.add_argument("--batch-size", type=int, metavar="B")
    p.add_argument("--lr", type=float, metavar="LR", help="(peak) learning rate")
    p.add_argument("--seed", type=int, metavar="S")
    p.add_argument("--eval-every", type=int, metavar="N", help="steps between validation passes")
    add_precision_arg(p, default=None, help_default="the recipe's, fp32 for every recipe today")
    p.add_argument(
        "--out",
        metavar="RUN_DIR",
        help="run directory (default: runs/<recipe>-s<seed>-<time>)",
    )
    p.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run where it stopped")
    add_tensorboard_arg(p)
    add_data_args(p)
    add_runtime_args(p)
    add_json_arg(p)
    p.set_defaults(handler=run)


def resolve_run(args: argparse.Namespace) -> tuple[TrainConfig, Path, bool]:
    """The config and folder the flags name, and whether the run is resumed."""
    if args.resume:
        given = [
            f"--{k.replace('_', '-')}"
            for k in (*CONFIG_FLAGS, "config", "out")
            if getattr(args, k) is not None
        ]
        if given:
            raise UsageError(
                f"{', '.join(given)} cannot be combined with --resume: a resumed run keeps its own config."
            )
        return (*resumed_run(args.resume, args.task), True)
    file_values = read_config_file(args.config) if args.config else {}
    overrides = {k: getattr(args, k) for k in CONFIG_FLAGS}
    return (*new_run(args.task, args.recipe, file_values, overrides, args.out), False)


def run(args: argparse.Namespace) -> int:
    imported = seconds_since_process_start()  # interpreter start and imports, before any work
    if launched_by_torchrun() and not (args.out or args.resume):
        # Each rank would name its own time-stamped default folder.
        raise UsageError(
            "Under torchrun pass --out RUN_DIR (or --resume RUN_DIR), the same for every process."
        )
    config, run_dir, resume = resolve_run(args)
    device = resolve_device(args.device)
    strategy = from_environment(device)
    note = None if resume else restart_note(run_dir)
    if note and strategy.is_main:
        print(f"mnistlab: {note}", file=sys.stderr)
    try:
        return _train(args, config, run_dir, resume, strategy.device(device), strategy, imported)
    finally:
        strategy.close()


def _train(
    args: argparse.Namespace,
    config: TrainConfig,
    run_dir: Path,
    resume: bool,
    device: torch.device,
    strategy: Strategy,
    imported: float | None,
) -> int:
    set_threads(args.threads)
    if strategy.is_main:
        check_and_warn(config.precision, device)
    data = load_data(args, default=config.dataset)  # --dataset is in the config; a resumed run keeps its own
    outliers = run_pool(config, data, data_dir=args.data_dir)
    data_loaded = seconds_since_process_start()
    runtime = describe_runtime(device)

    bar = StepProgress(
        config.steps,
        f"{args.task} ({config.recipe})",
        enabled=strategy.is_main,  # one bar for the whole group
        bar_eta=False,
    )

    events = run_events(args.tensorboard, run_dir, config, resume) if strategy.is_main else None

    def on_report(r: StepReport) -> None:
        if events is not None:
            events.report(r)
        val = "-" if r.val_accuracy is None else f"{r.val_accuracy:.2%}"
        facts = f"loss {r.loss:.4f} acc {r.batch_accuracy:.0%} val {val} {r.images_per_second:,.0f} img/s"
        bar.update(r.step, facts, format_eta(run_seconds_left(r, config.batch_size)))

    with stop_on_signals() as stopped:
        result = train(
            config,
            data,
            run_dir=run_dir,
            resume=resume,
            device=device,
            runtime=runtime,
            on_report=on_report,
            should_stop=lambda: stopped() is not None,
            strategy=strategy,
            outliers=outliers,
        )
        signum = stopped()
    bar.close()
    end_events(events, None if result.interrupted else result.summary)
    if not strategy.is_main:
        return 128 + (signum or signal.SIGINT) if result.interrupted else 0

    if result.interrupted:
        name = signal.Signals(signum).name if signum else "a signal"
        launcher = f"torchrun --nproc_per_node {strategy.world_size} -m " if strategy.world_size > 1 else ""
        print(
            f"mnistlab: stopped by {name} at step {result.step}/{config.steps}; checkpoint saved. "
            f"Resume with: {launcher}mnistlab train {args.task} --resume {run_dir}",
            file=sys.stderr,
        )
        return 128 + (signum or signal.SIGINT)
    # Wall clock of the whole command (interpreter start, data loading and test included),
    # the number a user waits for; train_seconds counts only the optimisation loop.
    summary = {
        **result.summary,
        "wall_seconds_since_process_start": seconds_since_process_start(),
        "startup": _startup(imported, data_loaded),
    }
    if args.json:
        print_json(summary)
    else:
        print(
            f"{args.task} ({config.recipe}, {config.precision}), {result.step} steps, {result.train_seconds:.1f} s: "
            f"validation {result.val_accuracy:.2%}, test {result.test_accuracy:.2%} "
            f"({result.summary['test_checkpoint']} weights). Run: {run_dir}"
        )
    return 0


def _startup(imported: float | None, data_loaded: float | None) -> dict[str, float | None]:
    """Seconds from process start to the end of imports, and spent loading the data (Linux only)."""
    data = None if imported is None or data_loaded is None else data_loaded - imported
    return {"import_seconds": imported, "data_seconds": data}
