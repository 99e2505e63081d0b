"""`mnistlab serve [RUN_DIR ...]`: the drawing page and JSON API, served by uvicorn.

With no run directory it serves the newest finished softmax and CNN runs under `runs/`; the CNN
of an MNIST server with none is the reader that ships in the package (`models.pretrained`), and
whatever is still missing is trained first, so the first start works out of the box.
"""

from __future__ import annotations

import argparse
import dataclasses
import signal
import socket
import sys
from pathlib import Path

import torch

from mnistlab.commands.common import add_data_args, add_runtime_args, load_data, stop_on_signals
from mnistlab.commands.progress import StepProgress, format_eta, report_facts, run_seconds_left
from mnistlab.commands.train import default_run_dir
from mnistlab.config import TrainConfig, resolve_config
from mnistlab.errors import UsageError
from mnistlab.recipes import RECIPES
from mnistlab.runtime import describe_runtime, resolve_device, set_threads
from mnistlab.training.loop import train
from mnistlab.training.outliers import outlier_pool
from mnistlab.training.result import StepReport

# Without a robust or fast CNN recipe, the paper CNN for this many steps: ~1-2 min on a laptop CPU,
# ~97 % test accuracy, instead of the paper's 20,000 steps (~99.2 %, tens of minutes).
FALLBACK_CNN_STEPS = 1000
# The CNN recipe a first start trains, the first of these that exists: `reader` knows when it
# does not know (outlier exposure, calibrated; issue 22), `robust` reads corrupted digits best.
FIRST_START_CNN_RECIPES = ("reader", "robust", "fast")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("serve", help="a drawing web page and JSON API over trained models")
    p.add_argument(
        "run_dirs",
        nargs="*",
        metavar="RUN_DIR",
        help="runs of one dataset to serve (default: the newest finished softmax and CNN runs on "
        "--dataset in --runs-dir, trained first if there are none)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (default: 8000)")
    p.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a --host beyond loopback (such as 0.0.0.0): the API has no authentication",
    )
    p.add_argument(
        "--trusted-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a Host name or address clients may use besides localhost, 127.0.0.1, ::1 and --host "
        "(repeatable; '*.example.com' or '*' allowed)",
    )
    p.add_argument("--runs-dir", default="runs", metavar="DIR", help="where to look for runs (default: runs)")
    add_data_args(p)
    add_runtime_args(p)
    p.set_defaults(handler=run)


def first_start_config(task: str) -> tuple[TrainConfig, str | None]:
    """The recipe a first start trains for `task`, and a note when it is a stand-in."""
    if task != "cnn":
        return resolve_config(task, "paper"), None
    for recipe in FIRST_START_CNN_RECIPES:
        if ("cnn", recipe) in RECIPES:
            return resolve_config("cnn", recipe), None
    config = resolve_config("cnn", "paper", overrides={"steps": FALLBACK_CNN_STEPS, "eval_every": 500})
    return config, f"no fast CNN recipe here, so the paper CNN for {FALLBACK_CNN_STEPS:,} steps"


def train_missing(args: argparse.Namespace, tasks: list[str], device: torch.device) -> dict[str, Path]:
    """Train each task's first-start recipe with a progress bar; returns the run directories."""
    data = load_data(args)
    trained: dict[str, Path] = {}
    for task in tasks:
        config, note = first_start_config(task)
        config = dataclasses.replace(config, dataset=data.name)
        run_dir = Path(args.runs_dir) / default_run_dir(task, config).name
        print(
            f"mnistlab serve: training {task} ({config.recipe}, {config.steps:,} steps"
            f"{'; ' + note if note else ''}) into {run_dir}.",
            file=sys.stderr,
        )
        bar = StepProgress(config.steps, f"{task} ({config.recipe})", bar_eta=False)

        def on_report(r: StepReport, bar: StepProgress = bar, batch_size: int = config.batch_size) -> None:
            bar.update(r.step, report_facts(r), format_eta(run_seconds_left(r, batch_size)))

        with stop_on_signals() as stopped:
            result = train(
                config,
                data,
                run_dir=run_dir,
                device=device,
                runtime=describe_runtime(device),
                on_report=on_report,
                should_stop=lambda: stopped() is not None,
                outliers=outlier_pool(data, config.outlier_sets, args.data_dir)
                if config.outlier_exposure > 0
                else None,
            )
            signum = stopped()
        bar.close()
        if result.interrupted:
            name = signal.Signals(signum).name if signum else "a signal"
            raise KeyboardInterrupt(f"stopped by {name} while training {task}")
        print(f"mnistlab serve: {task} reached {result.test_accuracy:.2%} test accuracy.", file=sys.stderr)
        trained[task] = run_dir
    return trained


def default_runs(args: argparse.Namespace, device: torch.device) -> list[Path]:
    from mnistlab.serve import TASKS, latest_finished_runs

    dataset = args.dataset or "mnist"
    found = latest_finished_runs(Path(args.runs_dir), dataset)
    if "cnn" not in found and dataset == "mnist":
        from mnistlab.models.pretrained import reader_run

        found["cnn"] = reader_run()  # no CNN trained yet: the reader that ships with mnistlab
        print(
            f"mnistlab serve: no finished cnn run on mnist in {args.runs_dir}/; serving the reader that "
            "ships with mnistlab (made by `mnistlab train cnn --recipe reader --seed 0`).",
            file=sys.stderr,
        )
    missing = [task for task in TASKS if task not in found]
    if missing:
        print(
            f"mnistlab serve: no finished {' or '.join(missing)} run on {dataset} in {args.runs_dir}/; "
            "training it now, once (later starts reuse it).",
            file=sys.stderr,
        )
        found.update(train_missing(args, missing, device))
    return [found[task] for task in TASKS]


def check_host(host: str, allow_remote: bool) -> None:
    """Refuse, in one sentence, to serve the unauthenticated API beyond loopback unless asked to."""
    from mnistlab.serve import is_loopback

    if not is_loopback(host) and not allow_remote:
        raise UsageError(
            f"--host {host} reaches beyond this machine and the API has no authentication; "
            "pass --allow-remote to serve it to the network anyway, or leave out --host."
        )


def trusted_hosts(host: str, extra: list[str]) -> list[str]:
    """Loopback by name and address, the address listened on (unless a wildcard), and `extra`."""
    from mnistlab.serve import LOOPBACK_HOSTS
    from mnistlab.serve.guards import check_host_patterns
    from mnistlab.serve.server import WILDCARD_HOSTS

    bound = [] if host.strip("[]") in WILDCARD_HOSTS else [host.strip("[]")]
    return check_host_patterns([*LOOPBACK_HOSTS, *bound, *extra])


def check_port(host: str, port: int) -> None:
    """Fail with one line, before loading anything, if the address cannot be bound."""
    if not 1 <= port <= 65535:
        raise UsageError(f"--port must be between 1 and 65535, got {port}.")
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        raise UsageError(
            f"Cannot listen on {host}:{port} ({exc.strerror}); pass another --port or --host."
        ) from None


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from mnistlab.serve import create_app, is_loopback, load_served_models, uvicorn_options
    except ModuleNotFoundError as exc:
        raise UsageError(
            f"`mnistlab serve` needs {exc.name}; install it with: pip install 'mnistlab[serve]'."
        ) from None
    check_host(args.host, args.allow_remote)
    hosts = trusted_hosts(args.host, args.trusted_host)
    check_port(args.host, args.port)
    device = resolve_device(args.device)
    set_threads(args.threads)
    try:
        run_dirs = [Path(p) for p in args.run_dirs] or default_runs(args, device)
    except KeyboardInterrupt as exc:
        print(f"mnistlab serve: {exc or 'interrupted'}; nothing served.", file=sys.stderr)
        return 130
    models = load_served_models(run_dirs, device)
    for served in models:
        accuracy = "unknown" if served.accuracy is None else f"{served.accuracy:.2%}"
        rule = served.reader.rule
        print(
            f"mnistlab serve: {served.name}: {served.kind} ({served.recipe}), test accuracy {accuracy}, "
            f"temperature {rule.temperature:.3g}, {served.reader.refusal} below {rule.score} "
            f"{rule.threshold:.3f}, from {served.run_dir}",
            file=sys.stderr,
        )
        if served.reader.note:
            print(f"mnistlab serve: {served.reader.note}", file=sys.stderr)
    shown_host = f"[{args.host}]" if ":" in args.host else args.host
    if args.allow_remote and not is_loopback(args.host):
        print(
            f"mnistlab serve: warning: listening on {shown_host}:{args.port}, beyond this machine; the API "
            "has no authentication, so anyone who can reach this address can use it.",
            file=sys.stderr,
        )
    print(f"mnistlab serve: answering requests for the hosts {', '.join(hosts)}.", file=sys.stderr)
    print(f"mnistlab serve: open http://{shown_host}:{args.port}/ (API docs at /docs).", file=sys.stderr)
    app = create_app(models, trusted_hosts=hosts)
    uvicorn.run(app, host=args.host, port=args.port, **uvicorn_options())
    return 0
