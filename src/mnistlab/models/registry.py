"""A small model registry: `create_model(name, **options)`, as in timm.

The built-in models are listed here, each by its constructor; `@register_model("name")` adds
one of your own. Every model takes images (N, 1, 28, 28) float32 in [0, 1] and returns
logits (N, num_classes).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from torch import nn

from mnistlab.errors import UsageError
from mnistlab.models.cnn import cnn
from mnistlab.models.fast import cnn_best, cnn_fast
from mnistlab.models.robust import cnn_robust
from mnistlab.models.softmax import softmax
from mnistlab.models.sprint import cnn_sprint

ModelFactory = Callable[..., nn.Module]
F = TypeVar("F", bound=ModelFactory)

_REGISTRY: dict[str, ModelFactory] = {
    "softmax": softmax,  # the paper's softmax regression
    "cnn": cnn,  # the paper's deep CNN
    "cnn_fast": cnn_fast,
    "cnn_best": cnn_best,
    "cnn_robust": cnn_robust,
    "cnn_sprint": cnn_sprint,  # few training FLOPs to 99 % (the sprint recipe)
}


def register_model(name: str) -> Callable[[F], F]:
    def decorator(factory: F) -> F:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        _REGISTRY[name] = factory
        return factory

    return decorator


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def create_model(name: str, **options: Any) -> nn.Module:
    """Build a registered model with freshly initialised parameters."""
    if name not in _REGISTRY:
        raise UsageError(f"Unknown model {name!r}; registered models: {', '.join(list_models())}.")
    try:
        return _REGISTRY[name](**options)
    except TypeError as exc:
        raise UsageError(f"Bad options {options} for model {name!r}: {exc}.") from None
