"""`mnistlab serve`: a drawing page (digits, or the classes of the runs' dataset) and a JSON API over trained runs.

    from mnistlab.serve import create_app, load_served_models
    app = create_app(load_served_models(["runs/softmax-...", "runs/cnn-..."]))
    # uvicorn.run(app, host="127.0.0.1", port=8000)

Needs the `serve` extra (fastapi, uvicorn, python-multipart).
"""

from mnistlab.serve.app import MAX_BODY_BYTES, ApiError, create_app
from mnistlab.serve.models import (
    TASKS,
    ModelAnswer,
    Predictor,
    ServedModel,
    latest_finished_runs,
    load_served_models,
)

__all__ = [
    "MAX_BODY_BYTES",
    "TASKS",
    "ApiError",
    "ModelAnswer",
    "Predictor",
    "ServedModel",
    "create_app",
    "latest_finished_runs",
    "load_served_models",
]
