"""A person's own digit, from an image or a drawing, to the 28x28 input MNIST's digits were made as.

MNIST's digits were made in a fixed way (LeCun et al., "Gradient-based learning applied to
document recognition", 1998, and yann.lecun.com/exdb/mnist): each NIST digit was
size-normalised to fit a 20x20 box keeping its aspect ratio, anti-aliased to grey levels,
then placed in a 28x28 field so that its centre of mass sits at the centre. A model trained
on them expects exactly that, as light ink on a black background, so a user's image goes
through the same steps:

    any mode -> 8-bit grey -> light-on-dark (inverted when the border is light)
    -> background subtracted, faint noise dropped -> cropped to the ink
    -> longer side scaled to 20 px -> pasted so the centre of mass is at (14, 14)

Measured on the real test set, the centre of mass of an MNIST digit is at (row, column)
(13.99, 14.01) in pixel-index coordinates with a spread of 0.29 px, and the ink's bounding
box has a longer side of 20 px for 9,997 of the 10,000 digits; the pipeline reproduces both.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps

from mnistlab.data.splits import SIDE
from mnistlab.errors import ImageError
from mnistlab.inference.image import SIXTEEN_BIT_MODES, WORK_SIDE, check_finite, has_alpha

BOX = 20  # the longer side of the digit inside the field
CENTRE = 14.0  # centre of mass, in pixel-index coordinates (row, column)
# An image whose ink stands out from the background by less than this (of 255) is blank.
MIN_CONTRAST = 32.0
# Pixels fainter than this fraction of the strongest ink are background noise
# (paper texture, JPEG ringing, sensor noise) and are set to zero before cropping.
NOISE_FRACTION = 0.2

_IMAGE_FIX = "pass an image of one dark digit on light paper, or light on dark"
_DRAWING_FIX = "draw a digit first"


def preprocess(image: Image.Image, *, name: str = "The image") -> np.ndarray:
    """An image of one digit, in any mode, to MNIST's (28, 28) uint8 light-on-dark format.

    Honours EXIF orientation; transparent pixels count as white paper (or, when that leaves
    nothing, as a black canvas). Raises ImageError for a blank image, or NaN or infinite pixels.
    """
    return centre_digit(image_ink(image, name=name)[0], name)


def image_ink(image: Image.Image, *, name: str = "The image") -> tuple[np.ndarray, int]:
    """The ink of an image as light-on-dark float32 (H, W) on 0..255, background and faint
    noise set to zero, and the factor its sides were reduced by (1, or more for large photos).

    Honours EXIF orientation; transparent pixels count as white paper (or, when that leaves
    nothing, as a black canvas). Raises ImageError for a blank image, or NaN or infinite pixels.
    """
    check_finite(image, name)
    image = ImageOps.exif_transpose(image)
    factor = max(1, max(image.size) // WORK_SIDE)
    try:
        return clean_ink(_light_on_dark(_grey(image, background=255)), name, _IMAGE_FIX), factor
    except ImageError:
        if not has_alpha(image):
            raise
        # Light ink on a transparent background vanishes over white; try it over black.
        return clean_ink(_light_on_dark(_grey(image, background=0)), name, _IMAGE_FIX), factor


def preprocess_intensities(values: np.ndarray, *, name: str = "The drawing") -> np.ndarray:
    """A 2-D array of light-on-dark intensities (a drawing canvas) to MNIST's (28, 28) uint8.

    Floats with a maximum of at most 1 are fractions of full ink; anything else is on the
    0..255 scale. The crop, scale and centring are those of `preprocess`; nothing is inverted.
    """
    return centre_digit(drawing_ink(values, name=name), name, _DRAWING_FIX)


def drawing_ink(values: np.ndarray, *, name: str = "The drawing") -> np.ndarray:
    """A drawing's light-on-dark intensities as `image_ink`'s cleaned float32 (H, W) ink."""
    values = np.asarray(values)
    if values.ndim != 2 or values.size == 0:
        raise ImageError(f"{name} must be a non-empty 2-D array of intensities, got shape {values.shape}.")
    if values.dtype == np.bool_ or not np.issubdtype(values.dtype, np.number):
        values = values.astype(np.float32)
    ink = values.astype(np.float32)
    if not np.isfinite(ink).all():
        raise ImageError(f"{name} holds NaN or infinite intensities; pass finite numbers.")
    if np.issubdtype(values.dtype, np.floating) and ink.max() <= 1.0:
        ink = ink * 255.0
    return clean_ink(np.clip(ink, 0.0, 255.0), name, _DRAWING_FIX)


def _grey(image: Image.Image, background: int) -> np.ndarray:
    """Any Pillow mode to a float32 (H, W) grey array on the 0..255 scale."""
    if image.mode in (*SIXTEEN_BIT_MODES, "I", "F"):
        grey = np.asarray(image, dtype=np.float32)
        if image.mode in SIXTEEN_BIT_MODES or (image.mode == "I" and grey.max() > 255):
            grey = grey / 257.0  # 65535 -> 255
        elif image.mode == "F" and grey.max() <= 1.0:
            grey = grey * 255.0
        grey = np.clip(np.nan_to_num(grey), 0.0, 255.0)
    else:
        if has_alpha(image):
            rgba = image.convert("RGBA")
            paper = Image.new("RGBA", rgba.size, (background, background, background, 255))
            image = Image.alpha_composite(paper, rgba)
        try:
            grey = np.asarray(image.convert("L"), dtype=np.float32)
        except ValueError:  # a mode with no direct path to L, e.g. LAB or HSV
            grey = np.asarray(image.convert("RGB").convert("L"), dtype=np.float32)
    factor = max(grey.shape) // WORK_SIDE
    if factor > 1:
        grey = np.asarray(Image.fromarray(grey).reduce(factor))
    return grey


def _border(values: np.ndarray) -> np.ndarray:
    return np.concatenate([values[0], values[-1], values[1:-1, 0], values[1:-1, -1]])


def _light_on_dark(grey: np.ndarray) -> np.ndarray:
    """Invert when the background (the median of the outer frame) is the lighter side."""
    lo, hi = float(grey.min()), float(grey.max())
    return 255.0 - grey if float(np.median(_border(grey))) > (lo + hi) / 2 else grey


def clean_ink(ink: np.ndarray, name: str, fix: str) -> np.ndarray:
    """Light-on-dark intensities (H, W) on 0..255 with the background (the median of the outer
    frame) subtracted and ink fainter than NOISE_FRACTION of the strongest set to zero."""
    ink = np.clip(ink - np.median(_border(ink)), 0.0, None)
    peak = float(ink.max())
    if peak < MIN_CONTRAST:
        raise ImageError(f"{name} holds no digit: nothing stands out from its background; {fix}.")
    return np.where(ink >= NOISE_FRACTION * peak, ink, 0.0).astype(np.float32)


def centre_digit(ink: np.ndarray, name: str = "The image", fix: str = _IMAGE_FIX) -> np.ndarray:
    """Cleaned ink (H, W) holding one digit to the centred (28, 28) uint8 digit: cropped to
    the ink, longer side scaled to BOX, centre of mass at CENTRE."""
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    height, width = crop.shape
    scale = BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))  # PIL order: (w, h)
    if size != (width, height):
        # Lanczos is anti-aliased when shrinking (its support widens with the factor), like
        # MNIST's grey levels; its negative lobes are clipped away.
        crop = np.asarray(Image.fromarray(crop).resize(size, Image.Resampling.LANCZOS))
        crop = np.clip(crop, 0.0, None)
    if not crop.max() > 0:  # a speck so faint that scaling it down leaves nothing
        raise ImageError(f"{name} holds no digit: nothing stands out from its background; {fix}.")
    digit = crop * (255.0 / float(crop.max()))  # strongest ink -> 255, as in MNIST

    # Integer shift that puts the centre of mass nearest (14, 14), kept inside the field;
    # rounding, rather than resampling, leaves the strokes exactly as scaled.
    height, width = digit.shape
    mass = digit.sum(dtype=np.float64)
    cy = float(digit.sum(axis=1) @ np.arange(height)) / mass
    cx = float(digit.sum(axis=0) @ np.arange(width)) / mass
    top = int(np.clip(round(CENTRE - cy), 0, SIDE - height))
    left = int(np.clip(round(CENTRE - cx), 0, SIDE - width))
    field = np.zeros((SIDE, SIDE), dtype=np.uint8)
    field[top : top + height, left : left + width] = np.clip(np.rint(digit), 0, 255).astype(np.uint8)
    return field
