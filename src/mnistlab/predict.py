"""A person's own digit, from an image file or a drawing, to the model's classes.

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

import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torch import nn

from mnistlab.errors import ImageError
from mnistlab.evaluation import predict_logits

SIDE = 28  # MNIST's field
BOX = 20  # the longer side of the digit inside the field
CENTRE = 14.0  # centre of mass, in pixel-index coordinates (row, column)
# Decompression-bomb guard: a 50-megapixel photo is plenty for one digit, and its float32
# grey copy (~200 MB) still fits a laptop. PIL's own guard (Image.MAX_IMAGE_PIXELS) is
# turned from a warning into an error too, without changing it for the whole process.
MAX_PIXELS = 50_000_000
# Large photos are box-averaged down to about this longer side before anything else: the
# output has 20 px, so this keeps 50x headroom for a digit filling 1/50 of the photo.
WORK_SIDE = 1024
# An image whose ink stands out from the background by less than this (of 255) is blank.
MIN_CONTRAST = 32.0
# Pixels fainter than this fraction of the strongest ink are background noise
# (paper texture, JPEG ringing, sensor noise) and are set to zero before cropping.
NOISE_FRACTION = 0.2

_IMAGE_FIX = "pass an image of one dark digit on light paper, or light on dark"
_DRAWING_FIX = "draw a digit first"

_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


# -- reading ------------------------------------------------------------------------------


def load_image(source: str | os.PathLike | bytes, *, name: str | None = None) -> Image.Image:
    """Open and fully decode an image file (a path) or an encoded image (bytes).

    Raises ImageError when the path is missing, the file is empty, it is not an image
    Pillow can read, it has more than MAX_PIXELS pixels, or it is truncated. `name` is how
    messages refer to the image (default: the path, or "The image" for bytes).
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        what = name or "The image"
    else:
        path = Path(source)
        what = name or f"Image {path}"
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ImageError(f"{what} does not exist; check the path.") from None
        except IsADirectoryError:
            raise ImageError(f"{what} is a directory; pass an image file such as a PNG or JPEG.") from None
        except OSError as exc:
            raise ImageError(f"{what} cannot be read ({exc.strerror or exc}).") from None
    if not data:
        raise ImageError(f"{what} is empty (0 bytes); pass a PNG or JPEG of a digit.")

    with warnings.catch_warnings():
        # Pillow warns (rather than raises) between MAX_IMAGE_PIXELS and twice that.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))  # reads the header only
            _check_size(image, what)
            image.load()
        except ImageError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageError(
                f"{what} claims more pixels than Pillow's limit of {Image.MAX_IMAGE_PIXELS:,}; "
                f"downscale it to at most {MAX_PIXELS:,} pixels."
            ) from None
        except UnidentifiedImageError:
            raise ImageError(
                f"{what} is not an image Pillow can read; pass a PNG, JPEG, GIF, BMP, TIFF or WebP file."
            ) from None
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise ImageError(f"{what} is truncated or corrupt ({exc}); export it again.") from None
    return image


def _check_size(image: Image.Image, what: str) -> None:
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise ImageError(
            f"{what} has {width}x{height} = {width * height:,} pixels, more than the limit of "
            f"{MAX_PIXELS:,}; downscale it first."
        )
    if width == 0 or height == 0:
        raise ImageError(f"{what} has no pixels ({width}x{height}).")


# -- pre-processing -------------------------------------------------------------------------


def preprocess(image: Image.Image, *, name: str = "The image") -> np.ndarray:
    """An image of one digit, in any mode, to MNIST's (28, 28) uint8 light-on-dark format.

    Honours EXIF orientation; transparent pixels count as white paper (or, when that leaves
    nothing, as a black canvas). Raises ImageError for a blank image.
    """
    image = ImageOps.exif_transpose(image)
    has_alpha = image.mode in _ALPHA_MODES or "transparency" in image.info
    try:
        return _centre_digit(_light_on_dark(_grey(image, background=255)), name, _IMAGE_FIX)
    except ImageError:
        if not has_alpha:
            raise
        # Light ink on a transparent background vanishes over white; try it over black.
        return _centre_digit(_light_on_dark(_grey(image, background=0)), name, _IMAGE_FIX)


def preprocess_intensities(values: np.ndarray, *, name: str = "The drawing") -> np.ndarray:
    """A 2-D array of light-on-dark intensities (a drawing canvas) to MNIST's (28, 28) uint8.

    Floats with a maximum of at most 1 are fractions of full ink; anything else is on the
    0..255 scale. The crop, scale and centring are those of `preprocess`; nothing is inverted.
    """
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
    return _centre_digit(np.clip(ink, 0.0, 255.0), name, _DRAWING_FIX)


def _grey(image: Image.Image, background: int) -> np.ndarray:
    """Any Pillow mode to a float32 (H, W) grey array on the 0..255 scale."""
    if image.mode in (*_SIXTEEN_BIT_MODES, "I", "F"):
        grey = np.asarray(image, dtype=np.float32)
        if image.mode in _SIXTEEN_BIT_MODES or (image.mode == "I" and grey.max() > 255):
            grey = grey / 257.0  # 65535 -> 255
        elif image.mode == "F" and grey.max() <= 1.0:
            grey = grey * 255.0
        grey = np.clip(np.nan_to_num(grey), 0.0, 255.0)
    else:
        if image.mode in _ALPHA_MODES or "transparency" in image.info:
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


def _centre_digit(ink: np.ndarray, name: str, fix: str) -> np.ndarray:
    """Light-on-dark float intensities (H, W) in 0..255 to the centred (28, 28) uint8 digit."""
    ink = np.clip(ink - np.median(_border(ink)), 0.0, None)
    blank = ImageError(f"{name} holds no digit: nothing stands out from its background; {fix}.")
    peak = float(ink.max())
    if peak < MIN_CONTRAST:
        raise blank
    ink = np.where(ink >= NOISE_FRACTION * peak, ink, 0.0).astype(np.float32)

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
    if not crop.max() > 0:
        raise blank
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


# -- prediction -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Prediction:
    """A model's class probabilities for one digit."""

    probabilities: tuple[float, ...]  # one per class, summing to 1

    @property
    def label(self) -> int:
        """The most probable class (the lowest index on a tie)."""
        return max(range(len(self.probabilities)), key=lambda c: (self.probabilities[c], -c))

    def top(self, k: int = 3) -> list[tuple[int, float]]:
        """The k most probable (class, probability) pairs, most probable first."""
        order = sorted(range(len(self.probabilities)), key=lambda c: (-self.probabilities[c], c))
        return [(c, self.probabilities[c]) for c in order[:k]]


def predict_digits(model: nn.Module, digits: np.ndarray | torch.Tensor) -> list[Prediction]:
    """Probabilities for pre-processed digits (N, 28, 28) uint8, batched on the model's device."""
    digits = torch.as_tensor(np.asarray(digits) if not isinstance(digits, torch.Tensor) else digits)
    if digits.ndim != 3 or tuple(digits.shape[1:]) != (SIDE, SIDE) or digits.dtype != torch.uint8:
        raise ValueError(
            f"digits must be uint8 of shape (N, {SIDE}, {SIDE}), got {digits.dtype} {tuple(digits.shape)}"
        )
    if digits.shape[0] == 0:
        return []
    logits = predict_logits(model, digits)  # eval mode, inference mode, batches of 1,000
    probabilities = torch.softmax(logits.to(torch.float64), dim=1).cpu().tolist()
    return [Prediction(tuple(row)) for row in probabilities]
