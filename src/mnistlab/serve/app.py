"""The FastAPI app: the drawing page, `POST /api/predict`, `GET /api/models`, `/healthz`, `/docs`.

Request bodies are read by `serve.bodies`, errors answered by `serve.errors`; the models are
loaded once (`serve.models`) and shared by every request.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from mnistlab import __version__
from mnistlab.serve.bodies import PREDICT_BODY, read_digit
from mnistlab.serve.errors import BodyLimit, register_error_handlers
from mnistlab.serve.models import Predictor, ServedModel

MAX_BODY_BYTES = 1_000_000  # 1 MB; a 280x280 canvas PNG is ~5-20 kB
STATIC_DIR = Path(__file__).parent / "static"


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
        """The served models (name, kind, recipe, test accuracy of its run; the temperature of its
        calibrated probabilities and its abstention rule: score, threshold, quantile, what it was
        fitted on, whether the run was calibrated at all) and their dataset: name, title, class
        names in label order, image kind and pre-processing."""
        return {
            "models": [served.describe() for served in predictor.models],
            "dataset": predictor.describe_dataset(),
        }

    @app.post("/api/predict", openapi_extra={"requestBody": PREDICT_BODY})
    async def predict(request: Request) -> dict[str, Any]:
        """Calibrated probabilities of every class from every model, whether each abstains
        (`abstain`, `label` null, `score` below `threshold`, `reason`), and the 28x28 input they saw.

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
