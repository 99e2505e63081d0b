"""The FastAPI app: the drawing page, `POST /api/predict`, `GET /api/models`, `/healthz`, `/docs`.

Request bodies are read by `serve.bodies`, errors answered by `serve.errors`; the models are
loaded once (`serve.models`) and shared by every request. What the app sheds before reading
(an untrusted Host, a slow or oversized body, predictions beyond its queue) is `serve.guards`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from mnistlab import __version__
from mnistlab.errors import ImageError
from mnistlab.serve.answers import API_VERSION, NumberAnswer
from mnistlab.serve.bodies import (
    PREDICT_BODY,
    Received,
    Upload,
    header_pixels,
    image_upload,
    receive_upload,
    unpack,
)
from mnistlab.serve.errors import ApiError, BodyLimit, register_error_handlers, sentence
from mnistlab.serve.guards import (
    BODY_TIMEOUT,
    LOOPBACK_HOSTS,
    Admission,
    BodyTimeout,
    TrustedHosts,
    check_host_patterns,
)
from mnistlab.serve.models import Predictor, ServedModel

MAX_BODY_BYTES = 1_000_000  # 1 MB; a 280x280 canvas PNG is ~5-20 kB
STATIC_DIR = Path(__file__).parent / "static"


def create_app(
    models: Sequence[ServedModel],
    *,
    max_body_bytes: int = MAX_BODY_BYTES,
    body_timeout: float = BODY_TIMEOUT,
    trusted_hosts: Sequence[str] = LOOPBACK_HOSTS,
    admission: Admission | None = None,
) -> FastAPI:
    """The web app serving `models`, loaded once and shared by every request.

    It answers requests whose Host header is one of `trusted_hosts` (names or addresses,
    '*.example.com' or '*'), reads a body of at most `max_body_bytes` arriving within
    `body_timeout` seconds, and predicts within `admission`'s queue (default: `Admission()`).
    """
    predictor = Predictor(models)
    admission = admission or Admission()
    check_host_patterns(trusted_hosts)  # now, not at the first request
    app = FastAPI(
        title="mnistlab",
        version=API_VERSION,
        description=f"Draw {predictor.prompt}; the served models read it side by side (mnistlab {__version__}).",
        docs_url=None,  # FastAPI's default /docs loads Swagger UI from a CDN; served locally below
        redoc_url=None,
    )
    app.state.predictor = predictor
    app.state.admission = admission
    # The last added runs first: the Host is checked before anything is read.
    app.add_middleware(BodyTimeout, seconds=body_timeout)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.add_middleware(TrustedHosts, allowed_hosts=trusted_hosts)
    register_error_handlers(app)
    add_pages(app)

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        """Liveness: the server is up, how many models it holds and the version of its answers."""
        return {"status": "ok", "models": len(predictor.models), "api_version": API_VERSION}

    @app.get("/api/models")
    def list_models() -> dict[str, Any]:
        """The served models (name, kind, recipe, test accuracy of its run; the temperature of its
        calibrated probabilities and its abstention rule: score, threshold, quantile, what it was
        fitted on, whether the run was calibrated at all) and their dataset: name, title, class
        names in label order, image kind and pre-processing."""
        return {
            "models": [served.describe() for served in predictor.models],
            "dataset": predictor.describe_dataset(),
        }

    @app.post("/api/predict", openapi_extra={"requestBody": PREDICT_BODY})
    async def predict(
        request: Request,
        single: bool = Query(
            False, description="Read the whole upload as one digit, as `mnistlab predict --single` does."
        ),
    ) -> JSONResponse:
        """Every model's reading of the upload, as `mnistlab predict --json` reads a file, in
        one shape however many digits it holds: the `number` (null when a digit is "not a
        digit"), `abstain`, `reason`, its `digits` left to right (each with its `box` [x0, y0,
        x1, y1] in the upload's own pixels, `label`, `class`, calibrated `probability` and
        `probabilities`, `top`, `abstain`, `score`, `threshold`, `reason` and the 28x28 `input`
        the model saw) and `dropped` specks; `api_version` says which shape.

        Send a PNG (multipart field `image`, a JSON `{"image": data URL}` or a raw image
        body) or JSON `{"pixels": 28x28}`; `?single=true` reads the whole of it as one digit.
        """
        start = time.perf_counter()
        received = await receive_upload(request)  # read before queueing: a slow body holds no slot
        async with admission.slot():
            answers = await run_in_threadpool(read_received, predictor, admission, received, single)
        models = [answer.to_dict() for answer in answers]
        # Plain JSON types already: a JSONResponse skips FastAPI's encoder, which walks every
        # pixel of every digit's input (~20 ms for a 6-digit number on a busy 2-core machine).
        return JSONResponse(
            {
                "api_version": API_VERSION,
                "models": models,
                "ms": round((time.perf_counter() - start) * 1000.0, 3),
            }
        )

    return app


def read_received(
    predictor: Predictor, admission: Admission, received: Received, single: bool
) -> list[NumberAnswer]:
    """Decode a body and read it with every model (blocking: the app runs it in a thread); a
    large image is decoded and read while no other large one is (`Admission.large`)."""
    unpacked = unpack(received)
    if not isinstance(unpacked, bytes):
        return read_upload(predictor, unpacked, single)
    with admission.large(header_pixels(unpacked)):
        return read_upload(predictor, image_upload(unpacked), single)  # nothing decoded outlives it


def read_upload(predictor: Predictor, upload: Upload, single: bool) -> list[NumberAnswer]:
    try:
        return predictor.read(upload, single=single)
    except ImageError as exc:  # a blank canvas, or more digit candidates than a number has
        raise ApiError(422, sentence(str(exc))) from None


def add_pages(app: FastAPI) -> None:
    """The drawing page, its assets and the API docs, all served from the package (no CDN)."""
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
