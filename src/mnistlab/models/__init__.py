"""Models and their registry (`create_model(name, **options)`, as in timm)."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "registry": ["create_model", "list_models", "register_model"],
    },
)
