"""A number read whole by the line reader, in the shape of today's number readings.

`read_number_whole` gives `inference.number.NumberReading`: one `DigitReading` per symbol the
line reader found, its box in the image's pixels, its 28x28 crop (MNIST's layout, for
`--save-preprocessed` and the API's `input`), and a `Reading` whose probabilities are the
symbol's calibrated posterior over the ten digits (renormalised), its score the symbol's
confidence and its threshold the line rule's; a "not a digit" symbol is refused. So
`number_fields` (predict's JSON, the API) keeps its shape.

`read_any_number` is what `predict` and the server call: for the digit reader that ships with
mnistlab (the one it was compared with), the line reader when it read numbers better than the
segmentation reader on validation lines (its folder's validation.json, written by
`scripts/line_reader.py measure`); today's segmentation reader for any other run, with
`single`, and when the line reader finds at most one symbol (one digit reads as before).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image

from mnistlab.data.layout import centre_digit, drawing_ink
from mnistlab.inference.digits import image_ink
from mnistlab.inference.number import DigitReading, NumberReading, read_drawing, read_number, upright_size
from mnistlab.lines.reader import LineReader
from mnistlab.reader.prediction import Prediction
from mnistlab.reader.reader import Reader, Reading

NUMBER_SETS = ("numbers", "four_digit", "touching", "overlapping", "seven_eight")  # compared on validation


@cache
def shipped_line_reader() -> LineReader:
    return LineReader.from_dir()


@cache
def prefer_lines() -> bool:
    """Whether the shipped line reader read more validation numbers exactly than the
    segmentation reader (mean over NUMBER_SETS), as its validation.json records."""
    from mnistlab.models.pretrained import line_reader_dir

    path = line_reader_dir() / "validation.json"
    if not path.is_file():
        return False
    sets = json.loads(path.read_text(encoding="utf-8"))["sets"]

    def mean(name: str) -> float:
        return float(np.mean([sets[k][name]["exact"] for k in NUMBER_SETS]))

    return mean("line reader") > mean("segmentation reader")


def read_number_whole(
    lines: LineReader, reader: Reader, image: Image.Image | np.ndarray, *, name: str = "The image"
) -> NumberReading | None:
    """The line reader's number as a NumberReading; None when it finds no symbol."""
    if isinstance(image, Image.Image):
        ink, factor = image_ink(image, name=name)
        size = upright_size(image)
    else:
        ink, factor = drawing_ink(np.asarray(image), name=name), 1
        size = (ink.shape[1], ink.shape[0])
    reading = lines.read_ink(ink, name=name)
    if not reading.text:
        return None
    digits = []
    for k, box in enumerate(reading.boxes):
        posterior = np.asarray(reading.posteriors[k][1:11], dtype=np.float64)
        probabilities = tuple(float(v) for v in posterior / max(posterior.sum(), 1e-12))
        refused = reading.text[k] == "?" or reading.confidences[k] < reading.threshold
        x0, y0, x1, y1 = box
        crop = ink[y0:y1, x0:x1]
        digit = centre_digit(crop, name) if crop.any() else np.zeros((28, 28), np.uint8)
        scaled = (x0 * factor, y0 * factor, min(x1 * factor, size[0]), min(y1 * factor, size[1]))
        read = Reading(Prediction(probabilities), refused, reading.confidences[k], reading.threshold)
        digits.append(DigitReading(scaled, digit, read, _reason(reading, k) if refused else None))
    return NumberReading(tuple(digits))


def _reason(reading, k: int) -> str:
    if reading.text[k] == "?":
        return "not a digit: the line reader reads this symbol as no digit"
    return (
        f"not sure: the line reader's confidence {reading.confidences[k]:.3f} is below the threshold "
        f"{reading.threshold:.3f}"
    )


def read_any_number(
    reader: Reader,
    image: Image.Image | np.ndarray,
    *,
    name: str = "The image",
    single: bool = False,
    lines: bool = True,
) -> NumberReading:
    """`predict`'s and the server's number: with `lines` (the caller reads with the shipped
    digit reader, the one the validation comparison was made against), the line reader's when
    `prefer_lines()`; today's segmentation reading otherwise, with `single`, and whenever the
    line reader finds at most one symbol (one digit reads exactly as before)."""
    if lines and not single and reader.image_kind == "digits" and prefer_lines():
        whole = read_number_whole(shipped_line_reader(), reader, image, name=name)
        if whole is not None and len(whole.digits) > 1:
            return whole
    if isinstance(image, Image.Image):
        return read_number(reader, image, name=name, single=single)
    return read_drawing(reader, image, name=name, single=single)


def is_shipped_reader(run_dir: str | Path) -> bool:
    """Whether `run_dir` is the digit reader that ships with mnistlab."""
    from mnistlab.models.pretrained import reader_run

    return Path(run_dir).resolve() == reader_run(verify=False).resolve()
