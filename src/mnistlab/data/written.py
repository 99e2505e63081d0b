"""Seeded images of written numbers made from MNIST digits, to measure how well they are read.

Each image is made from digits of one split (`test` to report, `val` to choose), cropped to
their ink and set in a row on a black field with 8 px margins:

- `numbers`: 2 to 6 digits, gaps of 3 to 20 px between the digits' ink, each digit shifted up
  or down by up to 4 px;
- `four_digit`: the same with exactly 4 digits (the issue's target: >= 97 % read exactly);
- `touching`: 2 digits whose ink touches (gap 0) or overlaps by 1 to 3 px (target >= 80 %);
- `detached`: 1 digit with a 2 px band of rows cleared a third of the way down, which often
  leaves a stroke detached from the rest.

Then each image is drawn dark on light or light on dark (even or odd index) and scaled by 1,
2 or 3 in turn (bilinear), to be read through `inference.number.read_number` as `predict`
reads a file (`mnistlab.evaluation.numbers`). All gaps and shifts are at scale 1. The images
depend on the split and SEED only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from mnistlab.data.splits import Split

SEED = 23  # of the image generator; the digit order is drawn from it too
MARGIN = 8  # px around the row of digits, at scale 1
SCALES = (1, 2, 3)
SETS = {"numbers": 300, "four_digit": 500, "touching": 300, "detached": 300}  # images per set


@dataclass(frozen=True)
class NumberImage:
    image: Image.Image  # grey, light on dark or dark on light
    truth: str  # the digits, left to right
    boxes: tuple[
        tuple[int, int, int, int], ...
    ]  # each digit's ink box (x0, y0, x1, y1) in the image's pixels


def number_images(split: Split, kind: str, count: int, seed: int = SEED) -> list[NumberImage]:
    """`count` seeded images of the set `kind` made from the split's digits."""
    rng = np.random.default_rng([seed, list(SETS).index(kind)])
    images, labels = np.asarray(split.images), np.asarray(split.labels)
    made = []
    for i in range(count):
        length = {"numbers": int(rng.integers(2, 7)), "four_digit": 4, "touching": 2, "detached": 1}[kind]
        picks = rng.choice(len(labels), size=length, replace=False)
        crops = [ink_crop(images[j]) for j in picks]
        if kind == "detached":
            crops = [_cleared_band(crops[0])]
        gaps = (
            -rng.integers(0, 4, size=length - 1)
            if kind == "touching"
            else rng.integers(3, 21, size=length - 1)
        )
        shifts = rng.integers(-4, 5, size=length)
        row, boxes = compose(crops, gaps, shifts)
        scale = SCALES[i % 3]
        image = _render(row, dark_on_light=i % 2 == 0, scale=scale)
        made.append(
            NumberImage(image, _truth(labels[picks]), tuple(tuple(v * scale for v in b) for b in boxes))
        )
    return made


def compose(
    crops: list[np.ndarray], gaps: np.ndarray, shifts: np.ndarray
) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """Ink crops set left to right, `gaps` px apart (negative: overlapping), shifted by `shifts`
    px: the uint8 light-on-dark field and each crop's box (x0, y0, x1, y1) in it."""
    height = max(c.shape[0] for c in crops) + 2 * (MARGIN + int(np.abs(shifts).max()))
    lefts = np.concatenate([[0], np.cumsum([c.shape[1] for c in crops[:-1]]) + np.cumsum(gaps)])
    lefts = lefts - lefts.min() + MARGIN
    width = int(max(left + c.shape[1] for left, c in zip(lefts, crops, strict=True))) + MARGIN
    field = np.zeros((height, width), dtype=np.uint8)
    boxes = []
    for crop, left, shift in zip(crops, lefts, shifts, strict=True):
        top, left = (height - crop.shape[0]) // 2 + int(shift), int(left)
        window = field[top : top + crop.shape[0], left : left + crop.shape[1]]
        np.maximum(window, crop, out=window)  # where two digits overlap, the stronger ink
        boxes.append((left, top, left + crop.shape[1], top + crop.shape[0]))
    return field, boxes


def ink_crop(digit: np.ndarray) -> np.ndarray:
    rows, cols = np.flatnonzero(digit.any(axis=1)), np.flatnonzero(digit.any(axis=0))
    return digit[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _cleared_band(crop: np.ndarray) -> np.ndarray:
    cleared = crop.copy()
    row = crop.shape[0] // 3
    cleared[row : row + 2] = 0
    return cleared


def _render(row: np.ndarray, *, dark_on_light: bool, scale: int) -> Image.Image:
    image = Image.fromarray(255 - row if dark_on_light else row)
    if scale == 1:
        return image
    return image.resize((row.shape[1] * scale, row.shape[0] * scale), Image.Resampling.BILINEAR)


def _truth(labels: np.ndarray) -> str:
    return "".join(str(int(v)) for v in labels)
