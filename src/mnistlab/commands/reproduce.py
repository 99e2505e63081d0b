"""`mnistlab reproduce`: the paper's experiments over seeds, with a report that fills in as runs finish."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from mnistlab.commands.common import add_data_args, add_runtime_args, load_data, stop_on_signals
from mnistlab.commands.precision_flag import add_precision_arg, check_and_warn
from mnistlab.commands.progress import StepProgress, format_eta, report_facts
from mnistlab.commands.tensorboard_flag import add_tensorboard_arg, reproduce_events, tensorboard_root
from mnistlab.data.registry import get_dataset_spec
from mnistlab.errors import UsageError
from mnistlab.report.reproduction import reproduce
from mnistlab.reproduce.claims import parse_shard
from mnistlab.reproduce.experiments import (
    PAPER_DATASET,
    PAPER_SEEDS,
    QUICK_SEEDS,
    available_experiments,
    for_dataset,
    with_precision,
)
from mnistlab.reproduce.parallel import threads_per_job
from mnistlab.reproduce.plan import plan
from mnistlab.reproduce.runner import Progress
from mnistlab.runtime import describe_runtime, resolve_device, set_threads


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "reproduce",
        help="run the paper's experiments and write a report (paper vs this run, figures)",
        description="Train softmax 1,000 and 10,000 steps and the CNN 20,000 steps for each seed, "
        "writing DIR/index.html, results.md, results.json and figures/ as each run finishes. "
        "Rerunning continues: finished runs are reused, an interrupted one resumes.",
    )
    p.add_argument("--out", metavar="DIR", default="report", help="report folder (default: report/)")
    p.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        metavar="S",
        help=f"seeds of every experiment (default: {' '.join(map(str, PAPER_SEEDS))}; with --quick: "
        f"{' '.join(map(str, QUICK_SEEDS))})",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="a reduced first look: seed 0 only and fewer steps (the page lists each reduction)",
    )
    p.add_argument(
        "--best",
        action="store_true",
        help="also run the CNN recipe tuned for the dataset (beyond the paper): 'best' for MNIST, "
        "'fashion' for Fashion-MNIST",
    )
    p.add_argument(
        "--ablations",
        action="store_true",
        help="also run the ablations of the paper CNN (no dropout, biases at 0, SGD with momentum, fc 256), "
        "each compared with the paper CNN in one table",
    )
    p.add_argument(
        "--shard",
        metavar="K/N",
        help="train only runs K, K+N, K+2N, ... of the plan (K from 0), e.g. in a Slurm array "
        "--shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT; shards share --out and never train "
        "the same run (each run's folder is claimed first)",
    )
    p.add_argument(
        "--report-only",
        action="store_true",
        help="train nothing: rebuild the report from the runs finished so far",
    )
    p.add_argument(
        "--only",
        nargs="+",
        metavar="KEY",
        help="run only these experiments, e.g. softmax-1k softmax-10k (keys as in results.json)",
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="train N runs at once in separate processes, each with max(1, THREADS // N) torch "
        "threads (THREADS: --threads, default torch's); the numbers equal running them one after "
        "another with --threads set to that per-run count (the CNN's weights depend on it)",
    )
    add_precision_arg(
        p,
        default="fp32",
        help_default="fp32, the paper's arithmetic; another precision names its rows and run "
        "folders <key>-<precision>",
    )
    add_tensorboard_arg(p, "every run")
    add_data_args(p)
    add_runtime_args(p)
    p.set_defaults(handler=run)


def progress_printer(out: Path) -> Callable[[Progress], None]:
    """The display of `mnistlab reproduce` on stderr: a progress line per training run, a line per run's end."""
    bar: dict[int, StepProgress] = {}

    def on_progress(p: Progress) -> None:
        where = f"[{p.job}/{p.jobs}] {p.title}, seed {p.seed}"
        eta = f"all runs: {format_eta(p.eta_seconds, p.eta_unmeasured)}"
        if p.state == "training":
            if p.job not in bar:
                bar[p.job] = StepProgress(p.steps, where)
            bar[p.job].update(p.step, report_facts(p.report), eta)
            return
        if p.job in bar:
            bar.pop(p.job).close()
        if p.state == "interrupted":
            return
        if p.state == "elsewhere":
            what = (
                f"claimed by {p.claimed_by}, left to it (if that process is gone, delete {p.claim_file} and "
                "rerun; a claim of a dead process on this host is taken over by itself)"
                if p.claimed_by
                else "finished by another process"
            )
            print(f"{where}: {what}.", file=sys.stderr)
            return
        verb = "reused" if p.state == "reused" else "done"
        print(
            f"{where}: test {100 * p.test_accuracy:.2f} % ({p.train_seconds:.1f} s, {verb}); {eta}; "
            f"report: {out / 'index.html'}",
            file=sys.stderr,
        )

    return on_progress


def run(args: argparse.Namespace) -> int:
    seeds = args.seeds if args.seeds is not None else (QUICK_SEEDS if args.quick else PAPER_SEEDS)
    if len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise UsageError(f"--seeds must be distinct non-negative integers, got {' '.join(map(str, seeds))}.")
    spec = get_dataset_spec(args.dataset or PAPER_DATASET)  # a bad --dataset fails before any work
    rows = available_experiments(
        best=args.best, ablations=args.ablations, dataset=spec.name, image_kind=spec.image_kind
    )
    experiments, keys = with_precision(rows, args.precision)
    only = [keys.get(k, k) for k in args.only] if args.only else None  # plain keys work too
    shard = parse_shard(args.shard) if args.shard is not None else None
    if shard is not None and args.report_only:
        raise UsageError("--report-only trains nothing, so --shard has no meaning with it; drop one of them.")
    plan(experiments, seeds, args.out, quick=args.quick, only=only)  # a bad --only fails before data loads
    device = resolve_device(args.device)
    check_and_warn(args.precision, device)
    per_run_threads = threads_per_job(set_threads(args.threads), args.jobs)
    data = load_data(args)
    experiments = for_dataset(experiments, data.name)
    out = Path(args.out)
    on_progress = progress_printer(out)
    if (events_root := tensorboard_root(args.tensorboard)) is not None:
        planned = plan(experiments, seeds, out, quick=args.quick, only=only)
        on_progress = reproduce_events(events_root, planned, on_progress)
    from mnistlab.data.outliers import other_dataset

    with stop_on_signals() as stopped:
        results = reproduce(
            data,
            out,
            experiments=experiments,
            seeds=seeds,
            quick=args.quick,
            only=only,
            runtime=describe_runtime(device),
            device=str(device),
            on_progress=on_progress,
            should_stop=lambda: stopped() is not None,
            processes=args.jobs,
            threads=per_run_threads,
            shard=shard,
            report_only=args.report_only,
            other=None if args.quick else other_dataset(data, args.data_dir),
        )
        interrupted = stopped() is not None and not results["complete"]
    if interrupted:
        print(
            "mnistlab: stopped; the unfinished run has a checkpoint. Rerun the same command to continue.",
            file=sys.stderr,
        )
        return 130
    if not results["complete"]:
        left = sum(run["status"] != "finished" for row in results["experiments"] for run in row["runs"])
        whose = (
            "were not trained (--report-only)" if args.report_only else "belong to other shards or processes"
        )
        print(
            f"mnistlab: {left} run(s) of the plan are not finished; they {whose}. "
            f"Once they finish, `mnistlab reproduce --report-only --out {out}` rebuilds the report.",
            file=sys.stderr,
        )
    print(f"Report: {out / 'index.html'} (also results.md, results.json, figures/)")
    return 0
