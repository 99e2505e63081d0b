"""`mnistlab`: the command line, a thin layer over the public API.

Each subcommand lives in `mnistlab.commands.<name>` with `register(subparsers)`; its
handler returns an exit status. Only the command asked for is imported (matplotlib, PIL,
the report and the benchmark cost start-up time a training run need not pay); help and
an unknown command import them all. User errors (`MnistlabError`) end in one line on stderr
and a non-zero exit; `--debug` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from mnistlab import __version__
from mnistlab.errors import MnistlabError

COMMANDS = (
    "train",
    "evaluate",
    "calibrate",
    "predict",
    "data",
    "show",
    "weights",
    "reproduce",
    "bench",
    "ensemble",
    "serve",
    "export",
    "site",
    "tune",
)


class Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (exit 2) instead of the usage block."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`).\n")


def requested_command(argv: Sequence[str]) -> str | None:
    """The subcommand named in `argv`, if any: the top-level options take no values."""
    first = next((a for a in argv if not a.startswith("-")), None)
    return first if first in COMMANDS else None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser with every command, or only with `only` (the others are then not imported)."""
    parser = Parser(prog="mnistlab", description=__doc__.splitlines()[0].strip("`: "))
    parser.add_argument("--version", action="version", version=f"mnistlab {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name in COMMANDS if only is None else (only,):
        try:
            module = importlib.import_module(f"mnistlab.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"mnistlab.commands.{name}":
                raise
            continue  # a command not built yet
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(requested_command(argv))
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except MnistlabError as exc:
        if args.debug:
            raise
        print(f"mnistlab: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("mnistlab: interrupted.", file=sys.stderr)
        return 130


def entry() -> NoReturn:
    """The `mnistlab` script and `python -m mnistlab`: `main()`, then end the process at once.

    After `import torch` the interpreter's own teardown (torch's module dicts, its C++ static
    destructors, a last collection over its objects) takes 0.5-1 s, measured on the 2-core
    Xeon (a bare `import torch` exits in ~1 s, `os._exit` in 0.05 s): longer than `predict`
    itself. Every file mnistlab writes is renamed into place before `main` returns, so after
    the atexit callbacks (temporary folders, logging, multiprocessing) and flushing the
    standard streams, only that teardown is skipped. `main` itself, as tests call it, returns.
    """
    code = main()
    atexit._run_exitfuncs()  # what the interpreter would run first on its way out
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BrokenPipeError, ValueError):  # a reader gone; a closed stream
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    entry()
