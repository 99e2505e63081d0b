"""The FastAPI app: the drawing page, `POST /api/predict`, `GET /api/models`, `/healthz`.

Requests are pre-processed the way the served models' dataset was made (`Predictor.
preprocessing`): MNIST's digit normalisation, or Fashion-MNIST's conversion for objects.

Every failure a client can cause is a JSON `{"error": "<one sentence>"}` with a 4xx
status; only a bug gives a 500 (also as JSON). Bodies over 1 MB are refused with 413
before they are read in full: the declared Content-Length is checked first, and the
bytes actually received are counted too (a chunked upload declares none).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from swagger_ui_bundle import swagger_ui_path

from mnistlab import __version__
from mnistlab.data.splits import SIDE
from mnistlab.errors import ImageError, MnistlabError
from mnistlab.inference import DIGITS, Preprocessing, load_image
from mnistlab.serve.models import Predictor, ServedModel

MAX_BODY_BYTES = 1_000_000  # 1 MB; a 280x280 canvas PNG is ~5-20 kB
MAX_UPLOAD_FILES = 5  # multipart file parts parsed; one is used, more are an error naming them
STATIC_DIR = Path(__file__).parent / "static"
DATA_URL = re.compile(r"data:image/[\w.+-]+(?:;[\w=.+-]+)*;base64,(?P<data>.*)", re.DOTALL)

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


class ApiError(MnistlabError):
    """A request the API refuses: an HTTP status and one sentence saying why."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code


class BodyLimit:
    """ASGI middleware: 413 for a body over `max_bytes`, declared or actually streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        too_large = f"The request body is over the {self.max_bytes:,}-byte limit; send a smaller image."
        if declared is not None:
            if not declared.isdigit():
                await error_response(400, "The Content-Length header is not a number.")(scope, receive, send)
                return
            if int(declared) > self.max_bytes:
                await error_response(413, too_large)(scope, receive, send)
                return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise ApiError(413, too_large)
            return message

        await self.app(scope, limited_receive, send)


def error_response(status_code: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status_code)


def sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "?", "!")) else text + "."


# -- request bodies to a pre-processed (28, 28) uint8 digit ------------------------------


def digit_from_image(data: bytes, preprocessing: Preprocessing = DIGITS) -> np.ndarray:
    """Decode image bytes and pre-process them exactly as `mnistlab predict` does."""
    try:
        image = load_image(data, name="The upload")
    except ImageError as exc:
        raise ApiError(400, sentence(str(exc))) from None
    try:
        return preprocessing.from_image(image, name="The drawing")
    except ImageError as exc:  # a blank canvas
        raise ApiError(422, sentence(str(exc))) from None


def digit_from_pixels(pixels: Any, preprocessing: Preprocessing = DIGITS) -> np.ndarray:
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
    try:
        return preprocessing.from_intensities(values.astype(np.float32))
    except ImageError as exc:  # a blank canvas
        raise ApiError(422, sentence(str(exc))) from None


def digit_from_json(payload: Any, preprocessing: Preprocessing = DIGITS) -> np.ndarray:
    if isinstance(payload, list):
        return digit_from_pixels(payload, preprocessing)
    if isinstance(payload, dict) and "image" in payload:
        match = DATA_URL.fullmatch(payload["image"]) if isinstance(payload["image"], str) else None
        if match is None:
            raise ApiError(422, "The 'image' field must be a base64 data URL (data:image/png;base64,...).")
        try:
            data = base64.b64decode(match["data"], validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(400, "The 'image' data URL does not hold valid base64.") from None
        return digit_from_image(data, preprocessing)
    if isinstance(payload, dict) and "pixels" in payload:
        return digit_from_pixels(payload["pixels"], preprocessing)
    raise ApiError(422, "The JSON body needs an 'image' data URL or a 'pixels' 28x28 array.")


async def read_digit(request: Request, preprocessing: Preprocessing = DIGITS) -> np.ndarray:
    """Dispatch on Content-Type; decoding and pre-processing run off the event loop."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type == "application/json":
        body = await request.body()
        try:
            payload = json.loads(body)
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise ApiError(400, "The request body is not valid JSON.") from None
        return await run_in_threadpool(digit_from_json, payload, preprocessing)
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
        return await run_in_threadpool(digit_from_image, await uploads[0][1].read(), preprocessing)
    if media_type.startswith("image/"):
        return await run_in_threadpool(digit_from_image, await request.body(), preprocessing)
    given = (
        f"Content-Type {media_type!r} is not supported" if media_type else "The request has no Content-Type"
    )
    raise ApiError(415, f"{given}; send application/json, multipart/form-data or an image.")


# -- the app -------------------------------------------------------------------------------


def create_app(models: Sequence[ServedModel], *, max_body_bytes: int = MAX_BODY_BYTES) -> FastAPI:
    """The web app serving `models`, loaded once and shared by every request."""
    predictor = Predictor(models)
    app = FastAPI(
        title="mnistlab",
        version=__version__,
        description=f"Draw {predictor.prompt}; the served models read it side by side.",
        docs_url=None,  # FastAPI's default /docs loads Swagger UI from a CDN; served locally below
        redoc_url=None,
    )
    app.state.predictor = predictor
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    register_error_handlers(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.mount("/docs-assets", StaticFiles(directory=swagger_ui_path), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="mnistlab API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="data:,",
        )

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html")

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        """Liveness: the server is up and how many models it holds."""
        return {"status": "ok", "models": len(predictor.models)}

    @app.get("/api/models")
    def list_models() -> dict[str, Any]:
        """The served models (name, kind, recipe, test accuracy of its run) and their dataset:
        name, title, class names in label order, image kind and pre-processing."""
        return {
            "models": [served.describe() for served in predictor.models],
            "dataset": predictor.describe_dataset(),
        }

    @app.post("/api/predict", openapi_extra={"requestBody": PREDICT_BODY})
    async def predict(request: Request) -> dict[str, Any]:
        """Probabilities of every class from every model, and the 28x28 input they saw.

        Send a PNG (multipart field `image`, a JSON `{"image": data URL}` or a raw image
        body) or JSON `{"pixels": 28x28}`; images get `mnistlab predict`'s pre-processing.
        """
        start = time.perf_counter()
        digit = await read_digit(request, predictor.preprocessing)
        answers = await run_in_threadpool(predictor.predict, digit)
        return {
            "input": digit.tolist(),
            "models": [answer.to_dict() for answer in answers],
            "ms": round((time.perf_counter() - start) * 1000.0, 3),
        }

    return app


def register_error_handlers(app: FastAPI) -> None:
    """Every error becomes `{"error": "<one sentence>"}`; none escapes as an HTML page."""

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status_code, str(exc))

    @app.exception_handler(MnistlabError)
    async def mnistlab_error(_: Request, exc: MnistlabError) -> JSONResponse:
        return error_response(422, sentence(str(exc)))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()))
        return error_response(422, sentence(f"Invalid request at {where or 'body'}: {first.get('msg', '')}"))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            message = f"There is no {request.url.path}; the API is described at /docs."
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}; see /docs."
        else:
            message = sentence(str(exc.detail))
        return JSONResponse({"error": message}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def internal_error(_: Request, exc: Exception) -> JSONResponse:
        return error_response(500, "The server failed on this request; its log has the details.")
