"""`mnistlab tune SPACE.toml`: a hyper-parameter search on Optuna; `--report STUDY`: what it found."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

from mnistlab.commands.common import (
    add_data_args,
    add_json_arg,
    add_runtime_args,
    load_data,
    print_json,
    stop_on_signals,
)
from mnistlab.commands.tensorboard_flag import add_tensorboard_arg, tensorboard_root
from mnistlab.errors import UsageError

DEFAULT_TRIALS = 10


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "tune",
        help="search hyper-parameters on Optuna (the tune extra); --report: the best trials and figures",
        description="Run trials of the search space SPACE.toml (each an ordinary run folder under "
        "STUDY_DIR/trials/, never evaluated on the test split) in the study's storage: SQLite in "
        "STUDY_DIR by default, any Optuna RDB URL, or journal:PATH. Rerunning continues the study; "
        "several processes or machines on one storage share it with no coordinator.",
    )
    p.add_argument("space", nargs="?", metavar="SPACE.toml", help="the search space (see examples/tune/)")
    p.add_argument("--study", metavar="NAME", help="study name (default: the space file's name)")
    p.add_argument("--dir", metavar="STUDY_DIR", help="study folder (default: studies/<NAME>)")
    p.add_argument("--storage", metavar="URL", help="Optuna storage (default: sqlite:///STUDY_DIR/study.db)")
    p.add_argument(
        "--trials", type=int, metavar="N", help=f"trials this process runs (default: {DEFAULT_TRIALS})"
    )
    p.add_argument("--timeout", type=float, metavar="S", help="start no trial after S seconds")
    p.add_argument(
        "--report",
        metavar="STUDY_DIR",
        help="train nothing: print the study's best trials and importances, write its figures, "
        "best.toml and trials.json into --report-dir",
    )
    p.add_argument("--report-dir", metavar="DIR", help="where --report writes (default: STUDY_DIR/report)")
    add_tensorboard_arg(p, "every trial (as <study>/trial-NNNN)")
    add_data_args(p)
    add_runtime_args(p)
    add_json_arg(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if (args.space is None) == (args.report is None):
        raise UsageError(
            "Pass either SPACE.toml (to search) or --report STUDY_DIR (to report), not both or neither."
        )
    for flag, value in (("--trials", args.trials), ("--timeout", args.timeout)):
        if value is not None and value <= 0:
            raise UsageError(f"{flag} must be positive, got {value}.")
    return _report(args) if args.report is not None else _search(args)


def _search(args: argparse.Namespace) -> int:
    from mnistlab.runtime import describe_runtime, resolve_device, set_threads
    from mnistlab.tune.objective import TRIALS_DIR, TrialContext
    from mnistlab.tune.space import read_space
    from mnistlab.tune.storage import import_optuna, open_storage, storage_url
    from mnistlab.tune.study import open_study, run_study, study_attrs

    import_optuna()  # without the extra: one sentence, before anything else
    space = read_space(args.space)  # a bad space fails before any file exists
    if args.dataset is not None:  # as `dataset = NAME` under [fixed]: part of what the study searches
        space = dataclasses.replace(space, fixed={**space.fixed, "dataset": args.dataset})
    name = args.study or Path(args.space).stem
    study_dir = Path(args.dir) if args.dir else Path("studies") / name
    device = resolve_device(args.device)
    set_threads(args.threads)
    data = load_data(args, default=space.config({p.name: p.corners()[0] for p in space.params}).dataset)
    runtime = describe_runtime(device)
    record = data.record()
    if args.storage is None:
        study_dir.mkdir(parents=True, exist_ok=True)
    storage = open_storage(storage_url(args.storage, study_dir))
    study, failed = open_study(
        space, name, storage, attrs=study_attrs(space, record, runtime), trials_dir=study_dir / TRIALS_DIR
    )
    for number in failed:
        print(f"mnistlab: trial {number} had died (its process is gone); marked failed.", file=sys.stderr)
    with stop_on_signals() as stopped:
        context = TrialContext(
            space, data, study_dir / TRIALS_DIR, str(device), runtime,
            tensorboard_root(args.tensorboard), lambda: stopped() is not None,
        )  # fmt: skip
        try:
            done = run_study(
                study, context, n_trials=args.trials or (None if args.timeout else DEFAULT_TRIALS),
                timeout=args.timeout, on_trial=None if args.json else _print_trial,
            )  # fmt: skip
        except KeyboardInterrupt:
            print(
                "mnistlab: stopped; the trial running is marked failed. Rerun to continue the study.",
                file=sys.stderr,
            )
            return 130
    return _print_summary(args, study, study_dir, done)


def _values(trial: Any) -> str:
    if trial.values is None:
        return "-"
    shown = [f"val {trial.values[0]:.2%}", *(f"{v:.4g}" for v in trial.values[1:])]
    return ", ".join(shown)


def _print_trial(trial: Any) -> None:
    params = ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in trial.params.items()
    )
    state = trial.state.name.lower()
    if state == "pruned":
        state = f"pruned at step {trial.last_step}"
    print(f"trial {trial.number}: {state}, {_values(trial)} ({params})", file=sys.stderr)


def _print_summary(args: argparse.Namespace, study: Any, study_dir: Path, done: list[Any]) -> int:
    from mnistlab.tune.study import search_summary

    summary = search_summary(study, done, study_dir)
    if args.json:
        print_json(summary)
        return 0
    counts = ", ".join(f"{n} {s.lower()}" for s, n in summary["trials"].items())
    best = summary["best"]
    best_text = (
        "none finished yet" if best is None else f"trial {best['number']}, validation {best['values'][0]:.2%}"
    )
    report = f"mnistlab tune --report {study_dir}" + (f" --storage {args.storage}" if args.storage else "")
    print(
        f"Study {study.study_name}: {len(done)} trial(s) here; {counts} in all; best: {best_text}. Report: {report}"
    )
    return 0


def _report(args: argparse.Namespace) -> int:
    from mnistlab.tune.report import write_report
    from mnistlab.tune.storage import load_study

    study_dir = Path(args.report)
    study = load_study(study_dir, args.storage, args.study)
    out = Path(args.report_dir) if args.report_dir else study_dir / "report"
    summary = write_report(study, out)
    if args.json:
        print_json(summary)
        return 0
    counts = ", ".join(f"{n} {s.lower()}" for s, n in summary["trials"].items())
    print(f"Study {study.study_name} ({summary['task']}, recipe {summary['recipe']}): {counts}.")
    print("Best trials (validation accuracy; the test split was never evaluated):")
    for t in summary["best"]:
        params = ", ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in t["params"].items()
        )
        extra = "".join(f", {v:.4g}" for v in t["values"][1:])
        print(f"  trial {t['number']}: {t['values'][0]:.2%}{extra} ({params})")
    for objective, found in summary["importances"].items():
        shown = (
            "too few finished trials" if not found else ", ".join(f"{k} {v:.2f}" for k, v in found.items())
        )
        print(f"Importances for {objective} (Optuna's): {shown}.")
    print(f"Wrote {', '.join(summary['files'])} to {out}.")
    return 0
