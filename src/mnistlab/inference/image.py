"""Reading a person's image file: fully decoded, bounded in size, every failure one sentence.

`load_image` is the only place a user's bytes are decoded. It decodes only the raster formats
people upload (FORMATS, named to Pillow explicitly), so PostScript, PDF and every plugin that
hands the bytes to a helper program (Ghostscript for EPS) are never consulted; and it bounds
the file's bytes, then the pixels, the longer side and the decoded bytes from the header,
before anything is decoded.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageMode, UnidentifiedImageError

from mnistlab.errors import ImageError
from mnistlab.fileio import open_named

# Pillow format names, in the order tried; GIF, WebP and TIFF give their first frame.
FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF", "TIFF")
FORMAT_NAMES = "PNG, JPEG, WebP, BMP, GIF or TIFF"
# Decompression-bomb guard: a 50-megapixel photo (the largest phones take 48-50 MP) is plenty
# for one digit, and its float32 grey copy (~200 MB) still fits a laptop. PIL's own guard
# (Image.MAX_IMAGE_PIXELS) is turned from a warning into an error too, without changing it for
# the whole process.
MAX_PIXELS = 50_000_000
# The longer side: a 50 MP photo is 8,165 px wide at 4:3 and a phone panorama about 16,000; a
# pixel count alone would let a 97 kB PNG of 1 x 50,000,000 through, which costs ~0.5 GB later.
MAX_SIDE = 20_000
# Decoded bytes, width x height x bands x bytes per sample: a 50 MP 8-bit RGB photo (150 MB).
MAX_DECODED_BYTES = 150_000_000
# The file itself: an uncompressed BMP or TIFF within MAX_DECODED_BYTES, plus headers and
# metadata (EXIF, ICC profile, thumbnails); compressed photos are far smaller.
MAX_FILE_BYTES = MAX_DECODED_BYTES + 10_000_000
# Large photos are box-averaged down to about this longer side before anything else: the
# output has 20 px, so this keeps 50x headroom for a digit filling 1/50 of the photo.
WORK_SIDE = 1024
SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
# Formats refused by their first bytes, without asking Pillow's plugin for them.
_DOCUMENTS = ((b"%!", "PostScript (EPS/PS)"), (b"\xc5\xd0\xd3\xc6", "PostScript (EPS)"), (b"%PDF", "PDF"))


def load_image(source: str | os.PathLike | bytes, *, name: str | None = None) -> Image.Image:
    """Open and fully decode an image file (a path) or an encoded image (bytes).

    Raises ImageError when the path is missing or not a regular file (a folder, a FIFO, a
    device), the file is empty or over MAX_FILE_BYTES, it is not one of FORMATS, its header
    claims more than MAX_PIXELS pixels, a side over MAX_SIDE or more than MAX_DECODED_BYTES,
    or it is truncated (NaN or infinite pixels of a float image are the pre-processing's to
    refuse: `check_finite`, where a grey level is needed). `name` is how
    messages refer to the image (default: the path, or "The image" for bytes).
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        what = name or "The image"
    else:
        what = name or f"Image {Path(source)}"
        data = _read_file(source, what)
    if not data:
        raise ImageError(f"{what} is empty (0 bytes); pass a PNG or JPEG of a digit.")
    if len(data) > MAX_FILE_BYTES:
        raise _too_large(what, len(data))

    with warnings.catch_warnings():
        # Pillow warns (rather than raises) between MAX_IMAGE_PIXELS and twice that.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=FORMATS)  # reads the header only
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
            raise _unread_format(what, data) from None
        except Exception as exc:
            # Pillow's decoders answer damaged bytes with OSError, SyntaxError, ValueError,
            # EOFError, and from deeper in a malformed header TypeError, IndexError or struct.error.
            raise ImageError(f"{what} is truncated or corrupt ({exc}); export it again.") from None
    return image


def _read_file(path: str | os.PathLike, what: str) -> bytes:
    """The bytes of a regular file, at most MAX_FILE_BYTES of them, read without blocking."""
    file, size = open_named(path, what, ImageError, "pass an image file such as a PNG or JPEG")
    with file:
        if size > MAX_FILE_BYTES:
            raise _too_large(what, size)
        try:
            return file.read(MAX_FILE_BYTES + 1)  # a file growing while read stops one byte over
        except OSError as exc:
            raise ImageError(f"{what} cannot be read ({exc.strerror or exc}).") from None


def _too_large(what: str, size: int) -> ImageError:
    return ImageError(
        f"{what} is {size:,} bytes, more than the limit of {MAX_FILE_BYTES:,} for an image file; "
        "downscale it or save it as a JPEG."
    )


def _unread_format(what: str, data: bytes) -> ImageError:
    """The sentence for bytes none of FORMATS reads, naming what they are where that is known."""
    document = next((kind for magic, kind in _DOCUMENTS if data.startswith(magic)), None)
    if document is not None:
        return ImageError(
            f"{what} is a {document} file, not an image format mnistlab reads; export it as {FORMAT_NAMES}."
        )
    # Other raster formats, by Pillow's pure prefix checks: no plugin is asked to open the bytes.
    Image.init()
    known = next(
        (
            fmt
            for fmt, (_, accept) in Image.OPEN.items()
            if fmt not in FORMATS and fmt != "EPS" and _accepts(accept, data[:16])
        ),
        None,
    )
    if known is not None:
        return ImageError(
            f"{what} is in {known} format, not one mnistlab reads; export it as {FORMAT_NAMES}."
        )
    return ImageError(
        f"{what} is not an image Pillow can read; pass a PNG, JPEG, GIF, BMP, TIFF or WebP file."
    )


def _accepts(accept: Callable[[bytes], object] | None, prefix: bytes) -> bool:
    try:
        return accept is not None and bool(accept(prefix))
    except Exception:  # some of Pillow's checks unpack a fixed-size prefix: a short file is not theirs
        return False


def decoded_bytes(image: Image.Image) -> int:
    """Bytes of the decoded pixels, width x height x bands x bytes per sample, from the header."""
    mode = ImageMode.getmode(image.mode)
    return image.width * image.height * len(mode.bands) * np.dtype(mode.typestr).itemsize


def _check_size(image: Image.Image, what: str) -> None:
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise ImageError(
            f"{what} has {width}x{height} = {width * height:,} pixels, more than the limit of "
            f"{MAX_PIXELS:,}; downscale it first."
        )
    if width == 0 or height == 0:
        raise ImageError(f"{what} has no pixels ({width}x{height}).")
    if max(width, height) > MAX_SIDE:
        raise ImageError(
            f"{what} is {width}x{height} pixels, longer than the limit of {MAX_SIDE:,} pixels a side; "
            "crop it to the writing."
        )
    size = decoded_bytes(image)
    if size > MAX_DECODED_BYTES:
        raise ImageError(
            f"{what} would decode to {size:,} bytes ({width}x{height}, mode {image.mode}), more than "
            f"the limit of {MAX_DECODED_BYTES:,}; downscale it or save it with 8 bits per channel."
        )


def check_finite(image: Image.Image, what: str) -> None:
    """Raise ImageError when a floating-point image (mode F, e.g. a float TIFF) holds NaN or
    infinite pixels: they have no grey level, so no reading of them would be honest."""
    if image.mode != "F":
        return
    bad = int(np.count_nonzero(~np.isfinite(np.asarray(image))))
    if bad:
        raise ImageError(
            f"{what} has {bad:,} NaN or infinite pixel{'s' * (bad > 1)} of {image.width * image.height:,}; "
            "replace them with finite values (the background's) and save it again."
        )


def has_alpha(image: Image.Image) -> bool:
    """Whether `image` has transparent pixels to composite over a paper colour."""
    return image.mode in ALPHA_MODES or "transparency" in image.info
