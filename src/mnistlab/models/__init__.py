"""Models and their registry. Importing this package registers every built-in model."""

from mnistlab.models import cnn, fast, robust, softmax  # noqa: F401  (registers the models)
from mnistlab.models.registry import create_model, list_models, register_model

__all__ = ["create_model", "list_models", "register_model"]
