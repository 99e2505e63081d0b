"""`mnistlab serve`: a drawing page (digits, or the classes of the runs' dataset) and a JSON API over trained runs.

    from mnistlab.serve import create_app, load_served_models, uvicorn_options
    app = create_app(load_served_models(["runs/softmax-...", "runs/cnn-..."]))
    # uvicorn.run(app, host="127.0.0.1", port=8000, **uvicorn_options())

Needs the `serve` extra (fastapi, uvicorn, python-multipart).
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "answers": ["API_VERSION", "NumberAnswer"],
        "app": ["MAX_BODY_BYTES", "create_app"],
        "bodies": ["Upload"],
        "errors": ["ApiError"],
        "guards": ["LOOPBACK_HOSTS", "Admission"],
        "models": [
            "TASKS",
            "Predictor",
            "ServedModel",
            "latest_finished_runs",
            "load_served_models",
        ],
        "server": ["is_loopback", "uvicorn_options"],
    },
)
