"""The README's and the documentation's results tables, generated from the committed reproductions.

    python scripts/readme_results.py --write     # rewrite every generated block in place
    python scripts/readme_results.py --check     # exit 1 naming each block that is out of date
    python scripts/readme_results.py docs/results/mnist.json   # print one file's tables

A generated block in README.md or docs/*.md is everything between a line

    <!-- generated: KIND docs/results/DATASET.json (python scripts/readme_results.py --write) -->

and the next `<!-- end generated -->` line, where KIND is `headline`, `ablations` or
`robustness` (`mnistlab.report.headline`'s three tables). tests/test_readme_results.py checks
that each block holds exactly the text generated from its results file.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mnistlab.report.headline import ablation_markdown, headline_markdown, robustness_markdown

REPO = Path(__file__).resolve().parents[1]
END = "<!-- end generated -->"
BLOCK = re.compile(
    r"^<!-- generated: (?P<kind>\w+) (?P<source>\S+) \(python scripts/readme_results\.py --write\) -->\n"
    r"(?P<body>.*?)^" + re.escape(END) + r"$",
    re.MULTILINE | re.DOTALL,
)
KINDS: dict[str, Callable[[dict[str, Any]], str]] = {
    "headline": headline_markdown,
    "ablations": ablation_markdown,
    "robustness": robustness_markdown,
}


@dataclass(frozen=True)
class Block:
    path: Path
    kind: str
    source: str
    body: str
    span: tuple[int, int]  # of the body in the file's text


def documents(root: Path) -> list[Path]:
    """The files that may hold generated blocks: the README and the documentation's pages."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def blocks(path: Path) -> Iterator[Block]:
    text = path.read_text(encoding="utf-8")
    for match in BLOCK.finditer(text):
        yield Block(path, match["kind"], match["source"], match["body"], match.span("body"))


def generated(kind: str, source: str, root: Path) -> str:
    """The body a block of `kind` from `source` must hold: a blank line, the table, a blank line."""
    if kind not in KINDS:
        raise SystemExit(f"unknown generated block kind {kind!r} (known: {', '.join(KINDS)})")
    results = json.loads((root / source).read_text(encoding="utf-8"))
    table = KINDS[kind](results)
    if not table:
        raise SystemExit(f"{source} has no {kind} table")
    return "\n" + table + "\n"


def write(root: Path) -> list[str]:
    """Rewrite every block whose text differs; the names of those rewritten."""
    changed = []
    for path in documents(root):
        text = path.read_text(encoding="utf-8")
        found = list(blocks(path))
        for block in reversed(found):  # from the end, so earlier spans stay valid
            body = generated(block.kind, block.source, root)
            if body != block.body:
                start, end = block.span
                text = text[:start] + body + text[end:]
                changed.append(f"{path.relative_to(root)}: {block.kind} {block.source}")
        if found:
            path.write_text(text, encoding="utf-8")
    return changed


def stale(root: Path) -> list[str]:
    """The blocks whose text is not what their results file generates."""
    return [
        f"{block.path.relative_to(root)}: {block.kind} {block.source}"
        for path in documents(root)
        for block in blocks(path)
        if generated(block.kind, block.source, root) != block.body
    ]


def print_tables(results_path: Path) -> None:
    results = json.loads(results_path.read_text(encoding="utf-8"))
    print(headline_markdown(results), end="")
    for table in (ablation_markdown(results), robustness_markdown(results)):
        if table:
            print()
            print(table, end="")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true", help="rewrite every generated block in place")
    action.add_argument("--check", action="store_true", help="exit 1 if any generated block is stale")
    action.add_argument("results", nargs="?", type=Path, help="print this results.json's tables")
    parser.add_argument("--root", type=Path, default=REPO, help="the repository (default: this one)")
    args = parser.parse_args(argv)
    if args.results is not None:
        print_tables(args.results)
        return 0
    if args.write:
        for name in write(args.root):
            print(f"rewrote {name}")
        return 0
    out_of_date = stale(args.root)
    for name in out_of_date:
        print(f"stale: {name} (run python scripts/readme_results.py --write)", file=sys.stderr)
    return 1 if out_of_date else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
