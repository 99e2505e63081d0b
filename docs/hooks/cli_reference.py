"""mkdocs hook: the CLI reference page, generated from `mnistlab.cli.build_parser()` at build time.

docs/cli.md holds the marker line `<!-- mnistlab-cli-reference -->`; each build replaces it with
every command's usage and arguments as argparse itself knows them (help strings, defaults,
choices, nested subcommands such as `data add`), so the page cannot drift from the parser.
A cli.md without the marker fails the build.
"""

from __future__ import annotations

import argparse
import html
import os
import re
from collections.abc import Iterator

MARKER = "<!-- mnistlab-cli-reference -->"
PAGE = "cli.md"
WIDTH = 100  # argparse wraps usage lines to the terminal's width; the page uses a fixed one


def on_page_markdown(markdown: str, page, config, files) -> str:  # mkdocs calls hooks by keyword
    if page.file.src_uri != PAGE:
        return markdown
    if MARKER not in markdown:
        raise ValueError(f"docs/{PAGE} lost its marker {MARKER}: the CLI reference has nowhere to go")
    return markdown.replace(MARKER, cli_reference_markdown())


def cli_reference_markdown() -> str:
    from mnistlab.cli import build_parser

    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(WIDTH)
    try:
        top = build_parser()
        commands = list(_commands(top, "mnistlab", "", 2))
        lines = ["## Commands at a glance", "", "| Command | What it does |", "| --- | --- |"]
        for prog, summary, _, _ in commands[1:]:
            lines.append(f"| [`{prog}`](#{_slug(prog)}) | {_cell(summary)} |")
        lines.append("")
        lines += _section("mnistlab", "The options before the command.", top, 2, describe=False)
        for prog, summary, parser, depth in commands[1:]:
            lines += _section(prog, summary, parser, depth)
        return "\n".join(lines) + "\n"
    finally:
        if saved is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = saved


def _commands(
    parser: argparse.ArgumentParser, prog: str, summary: str, depth: int
) -> Iterator[tuple[str, str, argparse.ArgumentParser, int]]:
    """(program name, one-line help, parser, heading depth) for this parser and every subcommand:
    the commands at the top's depth, their own subcommands one deeper."""
    yield prog, summary, parser, depth
    formatter = parser._get_formatter()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {c.dest: formatter._expand_help(c) if c.help else "" for c in action._choices_actions}
            for name, sub in action.choices.items():
                yield from _commands(sub, f"{prog} {name}", helps.get(name, ""), depth + (prog != "mnistlab"))


def _section(
    prog: str, summary: str, parser: argparse.ArgumentParser, depth: int, describe: bool = True
) -> list[str]:
    lines = [f"{'#' * min(depth, 4)} `{prog}`", ""]
    if summary:
        lines += [_text(summary), ""]
    if describe and parser.description and parser.description != summary:
        lines += [_text(parser.description), ""]
    lines += ["```text", parser.format_usage().strip(), "```", ""]
    formatter = parser._get_formatter()
    rows = []
    for action in parser._actions:
        if action.help == argparse.SUPPRESS or isinstance(action, argparse._HelpAction):
            continue
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                text = formatter._expand_help(choice) if choice.help else ""
                rows.append((f"[`{choice.dest}`](#{_slug(prog + ' ' + choice.dest)})", "", _cell(text)))
            continue
        invocation = formatter._format_action_invocation(action)
        rows.append((f"`{invocation}`", _default(action), _help(formatter, action)))
    if rows:
        lines += ["| Argument | Default | Description |", "| --- | --- | --- |"]
        lines += [f"| {name} | {default} | {text} |" for name, default, text in rows]
        lines.append("")
    return lines


def _default(action: argparse.Action) -> str:
    if action.default in (None, argparse.SUPPRESS) or action.nargs == 0:
        return ""
    if isinstance(action.default, (list, tuple)):
        return "`" + " ".join(str(v) for v in action.default) + "`"
    return f"`{action.default}`"


def _help(formatter: argparse.HelpFormatter, action: argparse.Action) -> str:
    text = formatter._expand_help(action) if action.help else ""
    if action.choices is not None and not isinstance(action, argparse._SubParsersAction):
        choices = ", ".join(f"`{c}`" for c in action.choices)
        text = f"{_text(text)} (one of {choices})" if text else f"one of {choices}"
        return _cell_raw(text)
    return _cell(text)


def _text(text: str) -> str:
    """Help text as Markdown: code spans kept, everything else shown literally."""
    parts = re.split(r"(`[^`]*`)", " ".join(text.split()))
    return "".join(
        part
        if part.startswith("`")
        else html.escape(part, quote=False).replace("*", r"\*").replace("_", r"\_")
        for part in parts
    )


def _cell(text: str) -> str:
    return _cell_raw(_text(text))


def _cell_raw(markdown: str) -> str:
    return markdown.replace("|", r"\|")


def _slug(prog: str) -> str:
    """The id Python-Markdown's toc gives the heading `` `prog` ``."""
    return re.sub(r"[\s]+", "-", prog.strip().lower())
