"""`mnistlab serve [RUN_DIR ...]`: the drawing page and JSON API, served by uvicorn.

With no run directory it serves the newest finished softmax and CNN runs under `runs/`; the CNN
of an MNIST server with none is the reader that ships in the package (`models.pretrained`), and
whatever is still missing is trained first, so the first start works out of the box.
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from mnistlab.commands.common import add_data_args, add_runtime_args, load_data, stop_on_signals
from mnistlab.commands.progress import StepProgress, format_eta, report_facts, run_seconds_left
from mnistlab.data.splits import Dataset
from mnistlab.errors import UsageError
from mnistlab.runtime import resolve_device, set_threads

if TYPE_CHECKING:
    from mnistlab.serve.first_start import FirstStartRun
    from mnistlab.training.result import StepReport


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


def default_runs(args: argparse.Namespace, device: torch.device) -> list[Path]:
    """The newest finished runs in --runs-dir, the shipped reader, and what is missing trained now."""
    from mnistlab.serve.first_start import first_start_run, runs_to_serve

    dataset = args.dataset or "mnist"
    runs = runs_to_serve(args.runs_dir, dataset)
    if runs.shipped_reader:
        print(
            f"mnistlab serve: no finished cnn run on mnist in {args.runs_dir}/; serving the reader that "
            "ships with mnistlab (made by `mnistlab train cnn --recipe reader --seed 0`).",
            file=sys.stderr,
        )
    trained: dict[str, Path] = {}
    if runs.missing:
        print(
            f"mnistlab serve: no finished {' or '.join(runs.missing)} run on {dataset} in {args.runs_dir}/; "
            "training it now, once (later starts reuse it).",
            file=sys.stderr,
        )
        data = load_data(args)
        for task in runs.missing:
            trained[task] = train_with_progress(
                first_start_run(task, data.name, args.runs_dir), data, args, device
            )
    return runs.run_dirs(trained)


def train_with_progress(
    run: FirstStartRun, data: Dataset, args: argparse.Namespace, device: torch.device
) -> Path:
    """Train one first-start run with a progress log on stderr; KeyboardInterrupt when stopped."""
    from mnistlab.serve.first_start import train_first_start

    config = run.config
    print(
        f"mnistlab serve: training {run.task} ({config.recipe}, {config.steps:,} steps"
        f"{'; ' + run.note if run.note else ''}) into {run.run_dir}.",
        file=sys.stderr,
    )
    bar = StepProgress(config.steps, f"{run.task} ({config.recipe})", bar_eta=False)

    def on_report(r: StepReport) -> None:
        bar.update(r.step, report_facts(r), format_eta(run_seconds_left(r, config.batch_size)))

    with stop_on_signals() as stopped:
        result = train_first_start(
            run,
            data,
            device=device,
            data_dir=args.data_dir,
            on_report=on_report,
            should_stop=lambda: stopped() is not None,
        )
        signum = stopped()
    bar.close()
    if result.interrupted:
        name = signal.Signals(signum).name if signum else "a signal"
        raise KeyboardInterrupt(f"stopped by {name} while training {run.task}")
    print(f"mnistlab serve: {run.task} reached {result.test_accuracy:.2%} test accuracy.", file=sys.stderr)
    return run.run_dir


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
