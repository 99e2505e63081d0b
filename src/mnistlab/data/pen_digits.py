"""Digits written with a pen, from seeds: what a reader that refuses pen strokes must still read.

The negatives' letters (`mnistlab.data.negatives`) are font glyphs thinned to their centre line
and written again by `mnistlab.data.pen`; these are the digits 0-9 of the same fonts through the
same pen, so a reader trained to refuse pen-stroke letters is checked on pen-stroke digits of
the split's own fonts (validation: DejaVu Serif and Sans Mono; test: STIX General, cmti10,
cmmi10; training: none, these are never trained on). Half are written with the negatives' pen
widths (7-17 % of the longer side), half with a heavy pen (17-40 %: a marker, or a thick pen on a
small digit, as on the draw page). A font's digit that is not written so by hand is left out:
DejaVu Sans Mono's 0 (it has a dot inside).
"""

from __future__ import annotations

import numpy as np
import torch

from mnistlab.data import pen
from mnistlab.data.negatives import FONTS, SEEDS_PER_SPLIT, SPLIT_SEEDS, glyph_points
from mnistlab.errors import UsageError

HEAVY_PEN = (0.17, 0.40)  # pen width as a fraction of the longer side, for the heavy half
FAMILY_CODE = 5  # after the negatives' four families: its own streams
NOT_HANDWRITTEN = {(font, "0") for font in FONTS["val"] if font.startswith("DejaVuSansMono")}


def pen_digits(n: int, *, split: str, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`n` digits written with a pen in `split`'s fonts from `seed`: uint8 (n, 28, 28), labels (n,)."""
    if split not in ("val", "test"):
        raise UsageError(f"Pen-written digits are for checking a reader: split val or test, got {split!r}.")
    if not 0 <= seed < SEEDS_PER_SPLIT or n < 0:
        raise UsageError(f"Pen-written digits need n >= 0 and a seed from 0 to {SEEDS_PER_SPLIT - 1}.")
    pairs = [(f, str(d)) for f in FONTS[split] for d in range(10) if (f, str(d)) not in NOT_HANDWRITTEN]
    images, labels = np.zeros((n, 28, 28), dtype=np.uint8), np.zeros(n, dtype=np.int64)
    for i in range(n):  # one drawing each: its font, digit and pen are its own
        rng = np.random.default_rng([FAMILY_CODE, SPLIT_SEEDS[split] + seed, i])
        font, digit = pairs[rng.integers(len(pairs))]
        width = pen.PEN if i % 2 == 0 else HEAVY_PEN
        images[i] = pen.draw(glyph_points(font, digit), rng, f"The digit {digit} ({font})", width)
        labels[i] = int(digit)
    return torch.from_numpy(images), torch.from_numpy(labels)
