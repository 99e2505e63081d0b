"""A person's own digit, from an image or a drawing, to the 28x28 input MNIST's digits were made as.

A model trained on MNIST expects its layout (`mnistlab.data.layout`: longer side 20 px, centre
of mass at the centre) as light ink on a black background, so a user's image goes through:

    any mode -> 8-bit grey -> light-on-dark (inverted when the border is light)
    -> background subtracted, faint noise dropped -> cropped to the ink
    -> longer side scaled to 20 px -> pasted so the centre of mass is at (14, 14)

A drawing (light-on-dark intensities) starts at the third step: `preprocess_intensities`,
which lives with the layout because the images the project makes go through it too.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps

from mnistlab.data.layout import IMAGE_FIX, border, centre_digit, clean_ink
from mnistlab.data.layout import preprocess_intensities as preprocess_intensities  # public here too
from mnistlab.errors import ImageError
from mnistlab.inference.image import SIXTEEN_BIT_MODES, WORK_SIDE, check_finite, has_alpha


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
        return clean_ink(_light_on_dark(_grey(image, background=255)), name, IMAGE_FIX), factor
    except ImageError:
        if not has_alpha(image):
            raise
        # Light ink on a transparent background vanishes over white; try it over black.
        return clean_ink(_light_on_dark(_grey(image, background=0)), name, IMAGE_FIX), factor


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


def _light_on_dark(grey: np.ndarray) -> np.ndarray:
    """Invert when the background (the median of the outer frame) is the lighter side."""
    lo, hi = float(grey.min()), float(grey.max())
    return 255.0 - grey if float(np.median(border(grey))) > (lo + hi) / 2 else grey
