"""The pre-processing of each kind of dataset, and how `predict` and the server name it.

Digit datasets (MNIST and those added with `--kind digits`) use MNIST's size-normalisation
(`mnistlab.inference.digits`); object datasets (Fashion-MNIST, `--kind objects`) use
Fashion-MNIST's conversion of its product photos (`mnistlab.inference.objects`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mnistlab.data.layout import preprocess_intensities
from mnistlab.inference.digits import preprocess
from mnistlab.inference.objects import preprocess_object, preprocess_object_intensities


@dataclass(frozen=True)
class Preprocessing:
    """One way of making a 28x28 input, and how `predict` and the server describe it."""

    name: str
    description: str
    from_image: Callable[..., np.ndarray]  # (PIL image, *, name) -> (28, 28) uint8
    from_intensities: Callable[..., np.ndarray]  # (2-D light-on-dark array, *, name) -> (28, 28) uint8


DIGITS = Preprocessing(
    "mnist-digit",
    "MNIST's digit pre-processing: grey, light ink on black, longer side 20 px, centre of mass at the centre",
    preprocess,
    preprocess_intensities,
)
OBJECTS = Preprocessing(
    "fashion-mnist-object",
    "Fashion-MNIST's conversion: trimmed, longest edge subsampled to 28 px, sharpened, centred, negated, grey",
    preprocess_object,
    preprocess_object_intensities,
)


def for_kind(image_kind: str) -> Preprocessing:
    """The pre-processing of a dataset whose images are `image_kind` ("digits" or "objects")."""
    return OBJECTS if image_kind == "objects" else DIGITS
