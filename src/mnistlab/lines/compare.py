"""Both readers of numbers on the same images: the line reader (read whole) and today's
segmentation reader (`inference.number`: ink cut into digits, each read by the digit reader).

The sets, made from one split's digits (`test` to report, `val` to choose):

- `numbers`, `four_digit`, `touching`, `detached`: `data.written`'s images (2-6 digits 3-20 px
  apart, 4 digits, 2 digits touching or overlapping 1-3 px, 1 digit with a detached stroke),
  PNG-like images dark on light or light on dark, scales 1-3, read as `predict` reads a file;
- `overlapping`: 2 digits overlapping by 0 to 35 % of the narrower one's width, `seven_eight`:
  7 or 8 digits, gaps -35 % to +60 %, both made by `lines.make` (the training style, clean);
- `single`: every digit of the split alone, as a drawing.

A number counts as read when it is answered and right; a refusal (or an image either reader
refuses to take, e.g. too many pieces) counts as not read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from mnistlab.data.splits import Split
from mnistlab.data.written import SETS as WRITTEN_SETS
from mnistlab.data.written import number_images
from mnistlab.errors import ImageError
from mnistlab.lines.make import LineStyle, line_image, make_lines

SPLIT_SEEDS = {"val": 2_000_000, "test": 3_000_000}  # of the made sets, apart from training's
MADE = {"overlapping": 500, "seven_eight": 300}
LABELS = {
    "numbers": "2-6 digits apart (3-20 px)",
    "four_digit": "4 digits apart (3-20 px)",
    "touching": "2 digits touching or overlapping 1-3 px",
    "overlapping": "2 digits overlapping 0-35 %",
    "seven_eight": "7-8 digits, gaps -35 % to +60 %",
    "detached": "1 digit with a detached stroke",
    "single": "1 digit alone (every digit of the split)",
}


@dataclass(frozen=True)
class Item:
    image: Image.Image | np.ndarray  # a file-like image, or light-on-dark ink (H, W) uint8
    truth: str


def written_sets(split: Split, sizes: dict[str, int]) -> dict[str, list[Item]]:
    """`data.written`'s sets of `sizes` ({kind: count}) made from `split`."""
    return {
        kind: [Item(n.image, n.truth) for n in number_images(split, kind, count)]
        for kind, count in sizes.items()
    }


def made_sets(split: Split, split_name: str, sizes: dict[str, int]) -> dict[str, list[Item]]:
    """The sets `lines.make` makes (`overlapping`, `seven_eight`) of `sizes` from `split`."""
    styles = {
        "overlapping": LineStyle(min_symbols=2, max_symbols=2, gap=(-0.35, 0.0)),
        "seven_eight": LineStyle(min_symbols=7, max_symbols=8),
    }
    base, sets = SPLIT_SEEDS.get(split_name, SPLIT_SEEDS["test"]), {}
    for k, (kind, style) in enumerate(styles.items()):
        if kind in sizes:
            lines = make_lines(split.images, split.labels, sizes[kind], base + k, style)
            sets[kind] = [
                Item(line_image(lines, i).numpy().astype(np.uint8), lines.truth(i))
                for i in range(sizes[kind])
            ]
    return sets


def comparison_sets(split: Split, split_name: str, single: int | None = None) -> dict[str, list[Item]]:
    """Every set of LABELS made from `split` (`single`: how many of its digits; None: all)."""
    sets = {**written_sets(split, WRITTEN_SETS), **made_sets(split, split_name, MADE)}
    count = len(split) if single is None else single
    sets["single"] = [Item(split.images[i].numpy(), str(int(split.labels[i]))) for i in range(count)]
    return {kind: sets[kind] for kind in LABELS}


def line_answer(reader) -> Callable[[Item], str | None]:
    """A `LineReader`'s number for an item (None: refused)."""
    return lambda item: reader.read(item.image).digits


def segment_answer(reader) -> Callable[[Item], str | None]:
    """Today's reader's number for an item, read as `predict` (a file) or the pad (an array)."""
    from mnistlab.inference.number import read_drawing, read_number

    def answer(item: Item) -> str | None:
        if isinstance(item.image, Image.Image):
            return read_number(reader, item.image).number(reader.classes)
        return read_drawing(reader, item.image).number(reader.classes)

    return answer


def score_set(answer: Callable[[Item], str | None], items: list[Item]) -> dict:
    """Exact (answered and right), refused and wrong (answered, not right) fractions."""
    exact = refused = 0
    for item in items:
        try:
            with torch.no_grad():
                read = answer(item)
        except ImageError:
            read = None
        refused += read is None
        exact += read == item.truth
    n = len(items)
    return {"images": n, "exact": exact / n, "refused": refused / n, "wrong": (n - exact - refused) / n}


def compare(readers: dict[str, Callable[[Item], str | None]], sets: dict[str, list[Item]]) -> dict:
    """{set: {reader name: score_set}}."""
    return {
        kind: {name: score_set(answer, items) for name, answer in readers.items()}
        for kind, items in sets.items()
    }


def table(results: dict) -> str:
    """The comparison as a Markdown table, one row per set."""
    names = list(next(iter(results.values())))
    head = "| set | images | " + " | ".join(f"{n}: exact | {n}: refused" for n in names) + " |"
    rule = "| --- | ---: | " + " | ".join("---: | ---:" for _ in names) + " |"
    rows = []
    for kind, by_reader in results.items():
        n = next(iter(by_reader.values()))["images"]
        cells = " | ".join(
            f"{100 * r['exact']:.2f} % | {100 * r['refused']:.2f} %" for r in by_reader.values()
        )
        rows.append(f"| {LABELS.get(kind, kind)} | {n:,} | {cells} |")
    return "\n".join([head, rule, *rows])
