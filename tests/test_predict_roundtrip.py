"""`predict`'s pre-processing loses almost nothing on MNIST's own digits (issue 13).

Reference: the same model's accuracy on the raw test tensors. Each digit is rendered 10x
larger as dark ink on light paper, encoded as PNG and read back the way `mnistlab predict`
reads a user's file; the bound is issue 13's 0.2 points. This runs on the first
`ROUND_TRIP_N` test digits; `scripts/predict_roundtrip.py RUN_DIR` measures all 10,000.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch

from mnistlab.reader.prediction import predict_logits
from mnistlab.runs.checkpoint import load_model

ROUND_TRIP_N = 1000  # the bound of 0.2 points is then 2 digits
SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "predict_roundtrip.py"


def load_script():
    spec = importlib.util.spec_from_file_location("predict_roundtrip", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_round_trip_through_predict_loses_at_most_0_2_points(cnn_run: Path, mnist) -> None:
    script = load_script()
    model = load_model(cnn_run)[0]
    images, labels = mnist.test.images[:ROUND_TRIP_N], mnist.test.labels[:ROUND_TRIP_N]
    digits = torch.from_numpy(np.stack([script.round_trip(p) for p in images.numpy()]))
    raw = predict_logits(model, images).argmax(1) == labels
    read = predict_logits(model, digits).argmax(1) == labels
    print(f"round trip: raw {raw.double().mean():.2%}, through predict {read.double().mean():.2%}")
    # Counted in digits, so that float rounding cannot turn 2 digits into 0.2000001 points.
    assert int(raw.sum()) - int(read.sum()) <= round(script.MAX_LOSS_POINTS / 100 * ROUND_TRIP_N)
    # Every round-tripped digit is scaled as MNIST's are: strongest ink at 255.
    assert int(digits.amax(dim=(1, 2)).min()) == 255
