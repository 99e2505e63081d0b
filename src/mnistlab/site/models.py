"""The models of the static page as ONNX bytes and the JSON the page reads beside each.

The digit reader is a run exported as `mnistlab export` makes it (`export.onnx.to_onnx`, the same
metadata), then checked in onnxruntime against torch on a fixed set of inputs (the site needs
no dataset); its JSON carries what the page decides with: the classes, the temperature and the
abstention rule, and what an abstention is called. The line reader joins when its shipped
folder exists (`line_model`: its ONNX file, as shipped); its ONNX metadata `mnistlab_line` is its JSON.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mnistlab.errors import ExportError

VERIFY_IMAGES = 64  # fixed inputs on which onnxruntime must reproduce torch
LINE_METADATA = "mnistlab_line"
LINE_ONNX = "line_reader.onnx"  # in the shipped line reader's folder


def digit_model(run_dir: Path) -> tuple[bytes, dict[str, Any]]:
    """The run's ONNX bytes (input `images` (N, 1, 28, 28) in [0, 1], output `logits`) and its
    page record. Raises ExportError when the model does not export or onnxruntime disagrees."""
    from mnistlab.export.metadata import abstention_record
    from mnistlab.export.onnx import compare_logits, require_export_packages, run_onnx, to_onnx
    from mnistlab.reader.reader import Reader
    from mnistlab.runs import checkpoint as ckpt

    require_export_packages()
    reader = Reader.from_run(run_dir)
    config, _ = ckpt.read_run_config(run_dir)
    results = ckpt.read_results(run_dir) or {}
    metadata = {
        "mnistlab.format": "mnistlab-onnx/1",
        "model": config.model,
        "recipe": config.recipe,
        "classes": json.dumps(list(reader.classes)),
        "temperature": repr(reader.temperature),
        "abstention": json.dumps(abstention_record(reader.rule), sort_keys=True),
    }
    try:
        data, _ = to_onnx(reader.model, metadata)
    except Exception as e:  # torch.export fails in many ways on a model it cannot trace
        raise ExportError(
            f"The model of {run_dir} ({config.model}) does not export to ONNX "
            f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else 'no message'}); "
            "build the page from a run of another model."
        ) from None
    images = _verify_images()
    reference = reader.model(torch.from_numpy(images).unsqueeze(1).float() / 255.0).detach()
    with tempfile.TemporaryDirectory(prefix="mnistlab-site-") as folder:  # onnxruntime reads a path
        path = Path(folder) / "model.onnx"
        path.write_bytes(data)
        verification = compare_logits(reference, run_onnx(path, torch.from_numpy(images), threads=1))
    if not verification.passed:
        raise ExportError(
            f"The ONNX model of {run_dir} disagrees with torch (max |logit difference| "
            f"{verification.max_abs_logit_diff:.1e}); build the page from another run."
        )
    record = {
        "name": run_dir.name,
        "model": config.model,
        "recipe": config.recipe,
        "classes": list(reader.classes),
        "image_kind": reader.image_kind,
        "refusal": reader.refusal,
        "temperature": reader.temperature,
        "abstention": abstention_record(reader.rule),
        "calibrated": reader.note is None,
        "test_accuracy": results.get("test_accuracy"),
        "input": "images: float32 (N, 1, 28, 28), MNIST's uint8 pixels / 255, light ink on black",
        "output": f"logits: float32 (N, {len(reader.classes)})",
    }
    return data, record


def _verify_images() -> np.ndarray:
    """(VERIFY_IMAGES, 28, 28) uint8: blank, full, and seeded strokes of random intensity."""
    rng = np.random.default_rng(0)
    images = (rng.random((VERIFY_IMAGES, 28, 28)) < 0.15) * rng.integers(0, 256, (VERIFY_IMAGES, 28, 28))
    images[0], images[1] = 0, 255
    return images.astype(np.uint8)


def line_model() -> tuple[bytes, dict[str, Any]] | None:
    """The shipped line reader's ONNX bytes and its `mnistlab_line` record, or None when the
    line reader is not part of this install (no shipped folder).

    The folder ships the file `mnistlab.lines.export.export_line_reader` wrote (input `line`
    (1, 1, 32, W), output `log_probs` (1, W // 4, 12), metadata `mnistlab_line`), hash-checked."""
    from mnistlab.models.pretrained import LINE_READER_DIR, line_reader_dir

    if not (LINE_READER_DIR / LINE_ONNX).is_file():
        return None
    data = (line_reader_dir() / LINE_ONNX).read_bytes()
    return data, line_record(data)


def line_record(data: bytes) -> dict[str, Any]:
    """The `mnistlab_line` metadata of a line reader's ONNX bytes, checked for the page's needs."""
    import onnx

    props = {p.key: p.value for p in onnx.load_from_string(data).metadata_props}
    if LINE_METADATA not in props:
        raise ExportError(f"The line reader's ONNX has no '{LINE_METADATA}' metadata; export it again.")
    record = json.loads(props[LINE_METADATA])
    missing = {"height", "ink_rows", "pad", "blank", "symbols", "temperature", "rule"} - set(record)
    if missing or not math.isfinite(float(record["temperature"])):
        raise ExportError(
            f"The line reader's '{LINE_METADATA}' metadata lacks {', '.join(sorted(missing)) or 'a finite temperature'}; "
            "export it again."
        )
    return record
