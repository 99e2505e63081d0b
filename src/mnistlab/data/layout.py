"""MNIST's layout: how its digits were placed in their 28x28 field, for any ink to be placed alike.

MNIST's digits were made in a fixed way (LeCun et al., "Gradient-based learning applied to
document recognition", 1998, and yann.lecun.com/exdb/mnist): each NIST digit was
size-normalised to fit a 20x20 box keeping its aspect ratio, anti-aliased to grey levels,
then placed in a 28x28 field so that its centre of mass sits at the centre. Everything that
makes a 28x28 digit from ink goes through `centre_digit`: a person's image or drawing
(`mnistlab.inference.digits`) and the images the project makes (`data.written`, `data.pen`).

Measured on the real test set, the centre of mass of an MNIST digit is at (row, column)
(13.99, 14.01) in pixel-index coordinates with a spread of 0.29 px, and the ink's bounding
box has a longer side of 20 px for 9,997 of the 10,000 digits; `centre_digit` reproduces both.

`centre_digit` is one explicit algorithm, so that the static page (`mnistlab site`, its
`layout.js`) computes the same pixels in JavaScript, within a rounding of the last float bits:

1. Crop to the rows and columns holding ink (> 0), as float32.
2. s = BOX / max(h, w); the new size is nh = max(1, round(h * s)), nw = max(1, round(w * s)),
   rounding half to even (Python's `round`).
3. Lanczos-3 resampling written out as weight matrices (`lanczos_weights(m, n)`, (n, m)), which
   is Pillow's `resize(..., LANCZOS)` on a float image step for step: for output pixel k,
   scale = m / n, f = max(scale, 1), support = 3 f, centre = (k + 0.5) scale; taps i from
   trunc(centre - support + 0.5) (at least 0) to trunc(centre + support + 0.5) (at most m),
   exclusive; weight L((i - centre + 0.5) * (1 / f)) with L(x) = sinc(x) sinc(x / 3) on
   [-3, 3) and 0 elsewhere, sinc(x) = sin(pi x) / (pi x), sinc(0) = 1; each row divided by its
   sum (added in tap order). Widths first, only when nw != w: crop @ W(w, nw).T in float64,
   stored as float32; then heights, only when nh != h: W(h, nh) @ that, stored as float32.
   Negative lobes are clipped to 0. Shrinking widens the kernel (anti-aliased grey levels,
   like MNIST's); growing interpolates.
4. Strongest ink -> 255: the float32 crop times float32(255 / max), in float32.
5. Centre of mass (cy, cx) = sum(v * index) / sum(v) over rows and columns; the digit is pasted
   at top = clip(round(14 - cy), 0, 28 - nh), left = clip(round(14 - cx), 0, 28 - nw), with
   round half to even: an integer shift, which leaves the strokes exactly as scaled.
6. Pixels rounded half to even (`np.rint`) and clipped to 0..255 as uint8.

Pillow computes the same filter but in C, where a page cannot follow it; the matrices keep
its numbers. Exact area averaging (a box filter, the other candidate) moved the shipped
reader's refusals of the pen-drawn negatives by up to 5.4 points (`docs/site.md`).
"""

from __future__ import annotations

import math

import numpy as np

from mnistlab.data.splits import SIDE
from mnistlab.errors import ImageError

BOX = 20  # the longer side of the digit inside the field
CENTRE = 14.0  # centre of mass, in pixel-index coordinates (row, column)
# An image whose ink stands out from the background by less than this (of 255) is blank.
MIN_CONTRAST = 32.0
# Pixels fainter than this fraction of the strongest ink are background noise
# (paper texture, JPEG ringing, sensor noise) and are set to zero before cropping.
NOISE_FRACTION = 0.2

IMAGE_FIX = "pass an image of one dark digit on light paper, or light on dark"
DRAWING_FIX = "draw a digit first"


def preprocess_intensities(values: np.ndarray, *, name: str = "The drawing") -> np.ndarray:
    """A 2-D array of light-on-dark intensities (a drawing canvas) to MNIST's (28, 28) uint8.

    Floats with a maximum of at most 1 are fractions of full ink; anything else is on the
    0..255 scale. The crop, scale and centring are those of `preprocess`; nothing is inverted.
    """
    return centre_digit(drawing_ink(values, name=name), name, DRAWING_FIX)


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
    return clean_ink(np.clip(ink, 0.0, 255.0), name, DRAWING_FIX)


def border(values: np.ndarray) -> np.ndarray:
    return np.concatenate([values[0], values[-1], values[1:-1, 0], values[1:-1, -1]])


def clean_ink(ink: np.ndarray, name: str, fix: str) -> np.ndarray:
    """Light-on-dark intensities (H, W) on 0..255 with the background (the median of the outer
    frame) subtracted and ink fainter than NOISE_FRACTION of the strongest set to zero."""
    ink = np.clip(ink - np.median(border(ink)), 0.0, None)
    peak = float(ink.max())
    if peak < MIN_CONTRAST:
        raise ImageError(f"{name} holds no digit: nothing stands out from its background; {fix}.")
    return np.where(ink >= NOISE_FRACTION * peak, ink, 0.0).astype(np.float32)


def centre_digit(ink: np.ndarray, name: str = "The image", fix: str = IMAGE_FIX) -> np.ndarray:
    """Cleaned ink (H, W) holding one digit to the centred (28, 28) uint8 digit: cropped to
    the ink, longer side scaled to BOX, centre of mass at CENTRE."""
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    crop = np.asarray(ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1], dtype=np.float32)
    height, width = crop.shape
    scale = BOX / max(height, width)
    new_height, new_width = max(1, round(height * scale)), max(1, round(width * scale))
    if new_width != width:  # each pass stored as float32, as Pillow's float images are
        crop = (crop.astype(np.float64) @ lanczos_weights(width, new_width).T).astype(np.float32)
    if new_height != height:
        crop = (lanczos_weights(height, new_height) @ crop.astype(np.float64)).astype(np.float32)
    crop = np.clip(crop, 0.0, None)  # the negative lobes
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


def lanczos_weights(m: int, n: int) -> np.ndarray:
    """(n, m) float64 Lanczos-3 weights from m pixels to n, each row summing to 1: Pillow's
    `precompute_coeffs` (src/libImaging/Resample.c) in Python floats, tap by tap."""
    scale = m / n
    filterscale = max(scale, 1.0)
    support = 3.0 * filterscale
    inverse = 1.0 / filterscale
    matrix = np.zeros((n, m), dtype=np.float64)
    for k in range(n):
        centre = (k + 0.5) * scale
        first = max(int(centre - support + 0.5), 0)
        end = min(int(centre + support + 0.5), m)
        taps = [_lanczos((i - centre + 0.5) * inverse) for i in range(first, end)]
        total = 0.0
        for w in taps:
            total += w
        matrix[k, first:end] = [w / total for w in taps] if total != 0.0 else taps
    return matrix


def _lanczos(x: float) -> float:
    return _sinc(x) * _sinc(x / 3.0) if -3.0 <= x < 3.0 else 0.0


def _sinc(x: float) -> float:
    if x == 0.0:
        return 1.0
    x = x * math.pi
    return math.sin(x) / x
