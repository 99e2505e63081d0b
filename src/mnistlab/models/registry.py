"""A small model registry: `create_model(name, **options)`, as in timm.

The built-in models are listed here, each by its constructor and named by its architecture (the
names older runs gave them still build them: `recipes.OLD_MODEL_NAMES`); `@register_model("name")` adds
one of your own. Every model takes images (N, 1, 28, 28) float32 in [0, 1] and returns
logits (N, num_classes).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from torch import nn

from mnistlab.errors import UsageError
from mnistlab.models.cnn import cnn
from mnistlab.models.fast import cnn_bn, cnn_bn_deep
from mnistlab.models.robust import cnn_bn_ink
from mnistlab.models.softmax import softmax
from mnistlab.models.sprint import cnn_unpadded
from mnistlab.recipes import OLD_MODEL_NAMES, canonical_model

ModelFactory = Callable[..., nn.Module]
F = TypeVar("F", bound=ModelFactory)

_REGISTRY: dict[str, ModelFactory] = {
    "softmax": softmax,  # the paper's softmax regression
    "cnn": cnn,  # the paper's deep CNN
    "cnn_bn": cnn_bn,  # three conv3x3-pool-BN blocks (the fast and reader recipes)
    "cnn_bn_deep": cnn_bn_deep,  # two convolutions in blocks 2 and 3 (the best and fashion recipes)
    "cnn_bn_ink": cnn_bn_ink,  # cnn_bn reading ink relative to its peak (the robust recipe)
    "cnn_unpadded": cnn_unpadded,  # unpadded convolutions, two pools (the sprint recipes)
}


def register_model(name: str) -> Callable[[F], F]:
    def decorator(factory: F) -> F:
        if name in _REGISTRY or name in OLD_MODEL_NAMES:
            raise ValueError(f"model {name!r} is registered twice")
        _REGISTRY[name] = factory
        return factory

    return decorator


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def create_model(name: str, **options: Any) -> nn.Module:
    """Build a registered model (by its name, or the name older runs gave it) with freshly
    initialised parameters."""
    name = canonical_model(name)
    if name not in _REGISTRY:
        raise UsageError(f"Unknown model {name!r}; registered models: {', '.join(list_models())}.")
    try:
        return _REGISTRY[name](**options)
    except TypeError as exc:
        raise UsageError(f"Bad options {options} for model {name!r}: {exc}.") from None
