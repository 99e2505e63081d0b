"""`mnistlab`: the command line, a thin layer over the public API.

Each subcommand lives in `mnistlab.commands.<name>` with `register(subparsers)`; its
handler returns an exit status. Only the command asked for is imported (matplotlib, PIL,
the report and the benchmark cost start-up time a training run need not pay); help and
an unknown command import them all. User errors (`MnistlabError`) end in one line on stderr
and a non-zero exit; `--debug` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

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


if __name__ == "__main__":
    sys.exit(main())
