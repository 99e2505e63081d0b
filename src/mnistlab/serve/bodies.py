"""Request bodies to what the models read: a PNG upload, a data URL, or 28x28 pixels.

`receive_upload` reads the body as sent (a `Received`); off the event loop `unpack` parses it
and `image_upload` decodes an image file (an `Upload`: an image, or light-on-dark intensities); the
`Predictor` then reads it as `mnistlab predict` reads a file (`inference.number`): every digit
found, each given MNIST's pre-processing on its own, or the whole of it as one digit.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
from fastapi import Request
from PIL import Image
from starlette.datastructures import UploadFile

from mnistlab.data.splits import SIDE
from mnistlab.errors import ImageError
from mnistlab.inference import load_image
from mnistlab.inference.image import FORMATS
from mnistlab.serve.errors import ApiError, sentence

MAX_UPLOAD_FILES = 5  # multipart file parts parsed; one is used, more are an error naming them
DATA_URL = re.compile(r"data:image/[\w.+-]+(?:;[\w=.+-]+)*;base64,(?P<data>.*)", re.DOTALL)

# The OpenAPI description of what `POST /api/predict` accepts (FastAPI cannot infer it from
# `read_digit`, which reads the raw request).
PREDICT_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "oneOf": [
                    {
                        "type": "object",
                        "properties": {"image": {"type": "string", "description": "PNG/JPEG data URL"}},
                        "required": ["image"],
                    },
                    {
                        "type": "object",
                        "properties": {
                            "pixels": {
                                "type": "array",
                                "description": "28x28 light-on-dark intensities, 0..255 or 0..1",
                                "items": {"type": "array", "items": {"type": "number"}},
                            }
                        },
                        "required": ["pixels"],
                    },
                ]
            }
        },
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"image": {"type": "string", "format": "binary"}},
                "required": ["image"],
            }
        },
    },
}


@dataclass(frozen=True)
class Upload:
    """What a request sends to be read: a decoded image file, or JSON light-on-dark intensities."""

    image: Image.Image | None = None  # a PNG/JPEG upload, data URL or raw image body
    values: np.ndarray | None = None  # a (28, 28) float32 array of 0..255 intensities


def image_upload(data: bytes) -> Upload:
    """Decode image bytes as `mnistlab predict` opens a file (400 when they are no image)."""
    try:
        return Upload(image=load_image(data, name="The upload"))
    except ImageError as exc:
        raise ApiError(400, sentence(str(exc))) from None


def pixels_upload(pixels: Any) -> Upload:
    """A JSON 28x28 array of light-on-dark intensities (0..255, or fractions in 0..1)."""
    if not (
        isinstance(pixels, list)
        and len(pixels) == SIDE
        and all(isinstance(row, list) and len(row) == SIDE for row in pixels)
    ):
        raise ApiError(
            422, f"'pixels' must be a {SIDE}x{SIDE} array (a list of {SIDE} rows of {SIDE} numbers)."
        )
    flat = [v for row in pixels for v in row]
    if any(isinstance(v, list) for v in flat):
        raise ApiError(422, f"'pixels' must be a {SIDE}x{SIDE} array, not one with a third dimension.")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in flat):
        raise ApiError(422, "Every value in 'pixels' must be a number.")
    values = np.asarray(flat, dtype=np.float64).reshape(SIDE, SIDE)
    if not np.isfinite(values).all() or values.min() < 0 or values.max() > 255:
        raise ApiError(422, "Every value in 'pixels' must be a finite intensity between 0 and 255.")
    return Upload(values=values.astype(np.float32))  # floats of at most 1 are fractions of full ink


def json_upload(payload: Any) -> Upload | bytes:
    """JSON pixels as an Upload; a JSON data URL as the image file's bytes (not decoded yet)."""
    if isinstance(payload, list):
        return pixels_upload(payload)
    if isinstance(payload, dict) and "image" in payload:
        match = DATA_URL.fullmatch(payload["image"]) if isinstance(payload["image"], str) else None
        if match is None:
            raise ApiError(422, "The 'image' field must be a base64 data URL (data:image/png;base64,...).")
        try:
            data = base64.b64decode(match["data"], validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(400, "The 'image' data URL does not hold valid base64.") from None
        return data
    if isinstance(payload, dict) and "pixels" in payload:
        return pixels_upload(payload["pixels"])
    raise ApiError(422, "The JSON body needs an 'image' data URL or a 'pixels' 28x28 array.")


@dataclass(frozen=True)
class Received:
    """A request body as sent, not yet decoded: JSON text, or the bytes of an image file."""

    kind: str  # "json" or "image"
    data: bytes


def unpack(received: Received) -> Upload | bytes:
    """JSON pixels as an Upload, or an image file's bytes (a body, a part or a data URL) to decode
    with `image_upload` (blocking: run it off the event loop)."""
    if received.kind == "image":
        return received.data
    try:
        payload = json.loads(received.data)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ApiError(400, "The request body is not valid JSON.") from None
    return json_upload(payload)


def header_pixels(data: bytes) -> int:
    """The pixels an image file's header claims (nothing decoded), 0 when it cannot say: then
    `load_image` says why in one sentence."""
    try:
        with Image.open(io.BytesIO(data), formats=FORMATS) as image:
            return image.width * image.height
    except Exception:  # any header Pillow cannot make sense of: load_image names the problem
        return 0


async def receive_upload(request: Request) -> Received:
    """Read the body by its Content-Type, without parsing or decoding it (`unpack` does)."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type == "application/json":
        return Received("json", await request.body())
    if media_type == "multipart/form-data":
        # Any field name is accepted (`curl -F file=@digit.png` as well as the page's 'image');
        # a few extra files are parsed only to name them in the error.
        form = await request.form(max_files=MAX_UPLOAD_FILES, max_fields=10)
        uploads = [(name, value) for name, value in form.multi_items() if isinstance(value, UploadFile)]
        if len(uploads) != 1:
            got = ", ".join(repr(name) for name, _ in uploads) or "none"
            raise ApiError(
                422, f"The multipart upload needs exactly one file part; got {len(uploads)} ({got})."
            )
        return Received("image", await uploads[0][1].read())
    if media_type.startswith("image/"):
        return Received("image", await request.body())
    given = (
        f"Content-Type {media_type!r} is not supported" if media_type else "The request has no Content-Type"
    )
    raise ApiError(415, f"{given}; send application/json, multipart/form-data or an image.")
