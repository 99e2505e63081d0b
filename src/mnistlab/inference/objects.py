"""A person's picture of one item to a 28x28 input, the way Fashion-MNIST's images were made.

Object datasets (Fashion-MNIST, `--kind objects`) use Fashion-MNIST's conversion of its
product photos (Xiao, Rasul, Vollgraf 2017, arXiv:1708.07747, section 2), step by step:

    1. the image as RGB (transparent pixels as white, the photos' background)
    2. trim the edges whose colour is within 5 % of the corner pixels' colour
    3. resize the longest edge to 28 by subsampling (keeping every k-th row and column)
    4. sharpen with a Gaussian of radius and standard deviation 1.0
    5. extend the shortest edge to 28, the object in the centre of the canvas
    6. negate the intensities
    7. convert to 8-bit grey

So the whole object fills the field (the longer side of the ink's bounding box is 28 px for
9,833 of Fashion-MNIST's 10,000 test images), unlike a digit's 20 px box. Two choices are
ours, as the paper leaves them open: the corner colour is the median of the four corners and
"within 5 %" is an RMS distance over the channels of at most 5 % of 255 (ImageMagick's fuzz);
and the sharpening is Pillow's unsharp mask at radius 1.0, 100 %, no threshold. A picture on a
dark background (a Fashion-MNIST image itself, or a light drawing on black) is inverted first,
so that step 6 leaves the object light on black as in the dataset.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter, ImageOps

from mnistlab.data.splits import SIDE
from mnistlab.errors import ImageError
from mnistlab.inference.image import SIXTEEN_BIT_MODES, WORK_SIDE, check_finite, has_alpha

TRIM_FUZZ = 0.05  # of full scale: the paper's "within 5 % of the maximum possible intensity"
SHARPEN_RADIUS = 1.0  # the paper's Gaussian radius and standard deviation
_OBJECT_FIX = "pass a picture of one item on a plain background"


def _rgb_on_white(image: Image.Image, name: str) -> Image.Image:
    """Any Pillow mode to RGB; transparent pixels become white, as behind the product photos."""
    check_finite(image, name)
    image = ImageOps.exif_transpose(image)
    if has_alpha(image):
        rgba = image.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(paper, rgba)
    elif image.mode in (*SIXTEEN_BIT_MODES, "I", "F"):
        grey = np.nan_to_num(np.asarray(image, dtype=np.float32))
        if image.mode.startswith("I;16") or (image.mode == "I" and grey.max() > 255):
            grey = grey / 257.0  # 65535 -> 255
        elif image.mode == "F" and grey.max() <= 1.0:
            grey = grey * 255.0
        image = Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8))
    try:
        rgb = image.convert("RGB")
    except ValueError:  # a mode with no path to RGB, e.g. LAB or HSV
        raise ImageError(
            f"{name} has colour mode {image.mode}, which cannot be read as RGB; save it as PNG."
        ) from None
    # The publisher's photos were about 762x1000; a much larger one is box-averaged down first
    # so that its float copy stays small (subsampling would then start from ~1,000 px too).
    factor = max(rgb.size) // WORK_SIDE
    return rgb.reduce(factor) if factor > 1 else rgb


def _corner_colour(rgb: np.ndarray) -> np.ndarray:
    corners = np.stack([rgb[0, 0], rgb[0, -1], rgb[-1, 0], rgb[-1, -1]])
    return np.median(corners, axis=0)


def preprocess_object(image: Image.Image, *, name: str = "The image") -> np.ndarray:
    """A picture of one object, in any mode, to Fashion-MNIST's (28, 28) uint8 light-on-dark format."""
    rgb = np.asarray(_rgb_on_white(image, name), dtype=np.float32)
    background = _corner_colour(rgb)
    if background.mean() < 128:  # light on dark: make it a product photo's dark-on-white first
        rgb, background = 255.0 - rgb, 255.0 - background

    distance = np.sqrt(((rgb - background) ** 2).mean(axis=2))  # RMS over the channels
    content = distance > TRIM_FUZZ * 255.0
    if not content.any():
        raise ImageError(f"{name} holds no object: nothing stands out from its background; {_OBJECT_FIX}.")
    rows, cols = np.flatnonzero(content.any(axis=1)), np.flatnonzero(content.any(axis=0))
    crop = rgb[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]

    height, width = crop.shape[:2]
    scale = SIDE / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))  # PIL order: (w, h)
    small = Image.fromarray(np.rint(crop).astype(np.uint8)).resize(size, Image.Resampling.NEAREST)
    small = small.filter(ImageFilter.UnsharpMask(radius=SHARPEN_RADIUS, percent=100, threshold=0))

    fill = tuple(int(np.rint(v)) for v in background)
    canvas = Image.new("RGB", (SIDE, SIDE), fill)  # type: ignore[arg-type]
    canvas.paste(small, ((SIDE - size[0]) // 2, (SIDE - size[1]) // 2))
    return np.asarray(ImageOps.invert(canvas).convert("L"), dtype=np.uint8).copy()


def preprocess_object_intensities(values: np.ndarray, *, name: str = "The drawing") -> np.ndarray:
    """A 2-D array of light-on-dark intensities (a drawing canvas) through the same conversion."""
    values = np.asarray(values, dtype=np.float32)
    if values.ndim != 2 or values.size == 0:
        raise ImageError(f"{name} must be a non-empty 2-D array of intensities, got shape {values.shape}.")
    if not np.isfinite(values).all():
        raise ImageError(f"{name} holds NaN or infinite intensities; pass finite numbers.")
    if values.max() <= 1.0:
        values = values * 255.0
    grey = Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8), mode="L")
    return preprocess_object(grey, name=name)
