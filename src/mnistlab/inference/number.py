"""Reading a whole number: every digit of an image found, pre-processed on its own, and read.

`read_number` is what `predict` and the server do with an image: find the ink as for one digit
(`digits.image_ink`), cut it into digits (`segmentation`), give each digit MNIST's
pre-processing on its own (20 px box, centre of mass at the centre), and read them all in one
batch with the reader's calibration and abstention. The number is the digits left to right,
or None when any digit is "not a digit". An image holding one digit and no specks is read
exactly as `Reader.read(preprocess(image))` reads it.

Object datasets (Fashion-MNIST) have no numbers: their image is read whole, as before.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from mnistlab.data.layout import centre_digit, drawing_ink
from mnistlab.inference.digits import image_ink
from mnistlab.inference.preprocessing import for_kind
from mnistlab.inference.segmentation import Piece, Segmentation, segment
from mnistlab.reader.prediction import image_logits
from mnistlab.reader.reader import Reader, Reading

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in the image's own pixels; x1 and y1 exclusive


@dataclass(frozen=True)
class DigitReading:
    """One digit of a number: where it is, the 28x28 input the model saw, and the reading."""

    box: Box
    image: np.ndarray  # (28, 28) uint8
    reading: Reading
    reason: str | None = None  # why it is refused, when another reader than `reading`'s says (lines)


@dataclass(frozen=True)
class NumberReading:
    """The digits of an image, left to right, and the specks left out."""

    digits: tuple[DigitReading, ...]
    dropped: int = 0  # specks too small to be ink of a digit

    @property
    def abstain(self) -> bool:
        """Whether any digit is refused (then there is no number)."""
        return any(d.reading.abstain for d in self.digits)

    def number(self, classes: tuple[str, ...], *, always_answer: bool = False) -> str | None:
        """The digits' class names joined ("2026"), or None when any digit abstains."""
        if self.abstain and not always_answer:
            return None
        return "".join(classes[d.reading.prediction.label] for d in self.digits)


def read_number(
    reader: Reader, image: Image.Image, *, name: str = "The image", single: bool = False
) -> NumberReading:
    """Every digit of an image, left to right; `single` reads the whole image as one digit.

    Raises ImageError for an image with no ink or more than MAX_DIGITS digit candidates.
    """
    size = upright_size(image)
    if reader.image_kind != "digits":
        digit = for_kind(reader.image_kind).from_image(image, name=name)
        return NumberReading((DigitReading((0, 0, *size), digit, reader.read(digit[None])[0]),))
    ink, factor = image_ink(image, name=name)
    return _read_ink(reader, ink, factor, size, name, single)


def read_drawing(
    reader: Reader, values: np.ndarray, *, name: str = "The drawing", single: bool = False
) -> NumberReading:
    """The same for a 2-D array of light-on-dark intensities (a drawing canvas)."""
    values = np.asarray(values)
    if reader.image_kind != "digits":
        digit = for_kind(reader.image_kind).from_intensities(values, name=name)
        box = (0, 0, values.shape[1], values.shape[0]) if values.ndim == 2 else (0, 0, 0, 0)
        return NumberReading((DigitReading(box, digit, reader.read(digit[None])[0]),))
    ink = drawing_ink(values, name=name)
    return _read_ink(reader, ink, 1, (ink.shape[1], ink.shape[0]), name, single)


def _read_ink(
    reader: Reader, ink: np.ndarray, factor: int, size: tuple[int, int], name: str, single: bool
) -> NumberReading:
    if single:
        segmentation = Segmentation((_whole(ink),), 0)
    else:
        segmentation = segment(ink, lambda images: confidence(reader, images), name=name)
    images = np.stack([centre_digit(p.ink, name) for p in segmentation.pieces])
    readings = reader.read(images)
    digits = tuple(
        DigitReading(_image_box(p.box, factor, size), image, reading)
        for p, image, reading in zip(segmentation.pieces, images, readings, strict=True)
    )
    return NumberReading(digits, segmentation.dropped)


def confidence(reader: Reader, images: np.ndarray) -> np.ndarray:
    """The reader's calibrated top probability for pre-processed digits (N, 28, 28) uint8."""
    logits = image_logits(reader.model, images).to(torch.float64)
    return torch.softmax(logits / reader.temperature, dim=1).amax(dim=1).numpy()


def _whole(ink: np.ndarray) -> Piece:
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    return Piece((int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1), crop)


def _image_box(box: Box, factor: int, size: tuple[int, int]) -> Box:
    """A box in the (possibly reduced) ink's pixels to the image's own pixels."""
    x0, y0, x1, y1 = (int(v) * factor for v in box)
    return (x0, y0, min(x1, size[0]), min(y1, size[1]))


def upright_size(image: Image.Image) -> tuple[int, int]:
    """(width, height) of the image once its EXIF orientation is applied."""
    width, height = image.size
    orientation = image.getexif().get(0x0112, 1)
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def reading_fields(reading: Reading, reader: Reader, *, always_answer: bool = False, top_k: int = 3) -> dict:
    """One digit's reading as `predict --json` and the API state it."""
    p = reading.prediction
    label = p.label if always_answer or not reading.abstain else None
    return {
        "label": label,
        "class": None if label is None else reader.classes[label],
        "probability": p.probabilities[p.label],  # calibrated, of the most probable class
        "abstain": reading.abstain,
        "score": reading.score,
        "threshold": reading.threshold,
        "reason": reader.reason(reading),
        "top": [[c, prob] for c, prob in p.top(top_k)],
        "probabilities": list(p.probabilities),
    }


def number_fields(number: NumberReading, reader: Reader, *, always_answer: bool = False) -> dict:
    """A whole image's reading as `predict --json` and the API state it, one shape for any count
    of digits: `number` (null when a digit abstains, unless `always_answer`), `abstain` (whether
    any digit does), `reason` (the first refused digit's, "digit 1 of 4: not a digit: ..."),
    `digits` (box, label, class, probability, abstain, score, threshold, reason, top and
    probabilities each) and `dropped`. An image of one digit is a number of one digit."""
    digits = [
        {
            "box": list(d.box),
            **reading_fields(d.reading, reader, always_answer=always_answer),
            **({"reason": d.reason} if d.reason is not None else {}),
        }
        for d in number.digits
    ]
    refused = [(k, d) for k, d in enumerate(digits, start=1) if d["abstain"]]
    return {
        "number": number.number(reader.classes, always_answer=always_answer),
        "abstain": bool(refused),
        "reason": f"digit {refused[0][0]} of {len(digits)}: {refused[0][1]['reason']}" if refused else None,
        "digits": digits,
        "dropped": number.dropped,
    }
