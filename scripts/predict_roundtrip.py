"""Round trip of `mnistlab predict`'s pre-processing over the whole MNIST test set.

    PYTHONPATH=src python scripts/predict_roundtrip.py RUN_DIR [--n 10000] [--data-dir DIR]

Each test digit is rendered 10x larger (280x280, bicubic) as dark ink on light paper,
encoded as a PNG, read back with `load_image` and pre-processed with `preprocess`, exactly
as `mnistlab predict` reads a user's file. It prints the model's accuracy on the raw test
tensors and on the round-tripped digits, and exits 1 when the round trip loses more than
0.2 points (issue 13's bound). Not a test: the full 10,000 take about a minute.
"""

from __future__ import annotations

import argparse
import io
import sys
import time

import numpy as np
import torch
from PIL import Image

from mnistlab.data import load_dataset
from mnistlab.inference import load_image, preprocess
from mnistlab.reader.prediction import predict_logits
from mnistlab.runs.checkpoint import load_model

MAX_LOSS_POINTS = 0.2


def round_trip(pixels: np.ndarray, factor: int = 10) -> np.ndarray:
    """One uint8 (28, 28) light-on-dark digit -> enlarged dark-on-light PNG -> `preprocess`."""
    side = pixels.shape[0] * factor
    image = Image.fromarray(255 - pixels).resize((side, side), Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return preprocess(load_image(buffer.getvalue()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--n", type=int, default=10_000, help="test digits to use (default: all)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model, _ = load_model(args.run_dir)
    test = load_dataset("mnist", args.data_dir).test
    images, labels = test.images[: args.n], test.labels[: args.n]
    t0 = time.perf_counter()
    digits = torch.from_numpy(np.stack([round_trip(p) for p in images.numpy()]))
    seconds = time.perf_counter() - t0
    raw = float((predict_logits(model, images).argmax(1) == labels).double().mean())
    read = float((predict_logits(model, digits).argmax(1) == labels).double().mean())
    loss = 100 * (raw - read)
    print(
        f"{args.run_dir}: {len(labels):,} test digits, raw tensors {raw:.2%}, through predict's "
        f"pre-processing (10x, dark on light, PNG) {read:.2%}: {loss:+.2f} points lost "
        f"(bound {MAX_LOSS_POINTS}); rendering + pre-processing took {seconds:.0f} s"
    )
    return 0 if loss <= MAX_LOSS_POINTS else 1


if __name__ == "__main__":
    sys.exit(main())
