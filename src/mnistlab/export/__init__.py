"""Export: a trained run as a verified ONNX file with its model card (the `export` extra).

- `onnx`: the ONNX file, kept only after onnxruntime reproduces the run on the test split.
- `metadata`: what the file says about itself, the temperature and abstention rule included.
- `result`: what an export returns: its files, metadata and the verification.
- `model_card`: MODEL_CARD.md, generated from the run's own files (`card_decision`: its
  calibration and abstention section).
"""

import lazy_loader

# Each name loads its module on first use (SPEC 1), so importing the package loads nothing.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "onnx": ["export_run"],
        "result": ["ExportResult", "Verification"],
    },
)
