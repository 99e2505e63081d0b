"""Reading a person's image file: fully decoded, bounded in size, every failure one sentence.

`load_image` is the only place a user's bytes are decoded; `grey` turns any Pillow mode into the
float (H, W) grey array on the 0..255 scale that both kinds of pre-processing start from.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from mnistlab.errors import ImageError

# Decompression-bomb guard: a 50-megapixel photo is plenty for one digit, and its float32
# grey copy (~200 MB) still fits a laptop. PIL's own guard (Image.MAX_IMAGE_PIXELS) is
# turned from a warning into an error too, without changing it for the whole process.
MAX_PIXELS = 50_000_000
# Large photos are box-averaged down to about this longer side before anything else: the
# output has 20 px, so this keeps 50x headroom for a digit filling 1/50 of the photo.
WORK_SIDE = 1024
SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


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


def has_alpha(image: Image.Image) -> bool:
    """Whether `image` has transparent pixels to composite over a paper colour."""
    return image.mode in ALPHA_MODES or "transparency" in image.info
