"""The reader through `mnistlab predict`, as a person would use it: issue 22's acceptance.

    PYTHONPATH=src python scripts/reader_check.py RUN_DIR [--n 2000] [--data-dir DIR] [--threads N]

Writes `--n` MNIST test digits and `--n` Fashion-MNIST test items as PNGs (10x larger, dark on
light paper, as a photo or scan of one would be) and `--n` uniform-noise images from the test
seed, runs `mnistlab predict RUN_DIR --json` on all of them in one process, and prints: on the
digits the share abstained and the accuracy on the answered ones; on Fashion-MNIST and noise the
share abstained. Real handwriting from outside MNIST is `mnistlab evaluate RUN --handwriting`.
Not a test: 3 x 2,000 images take a minute or two.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
from pathlib import Path

import torch
from PIL import Image

from mnistlab.cli import main as cli
from mnistlab.data import load_dataset, outliers


def write_pngs(folder: Path, name: str, images: torch.Tensor) -> list[str]:
    """uint8 light-on-dark (N, 28, 28) as 280x280 dark-on-light PNGs; their paths."""
    paths = []
    for i, pixels in enumerate(images.numpy()):
        path = folder / f"{name}-{i:05d}.png"
        Image.fromarray(255 - pixels).resize((280, 280), Image.Resampling.BICUBIC).save(path)
        paths.append(str(path))
    return paths


def predict(run_dir: str, paths: list[str], threads: int | None) -> list[dict]:
    out = io.StringIO()
    extra = ["--threads", str(threads)] if threads else []
    with contextlib.redirect_stdout(out):
        code = cli(["predict", run_dir, *paths, "--json", *extra])
    if code != 0:
        raise SystemExit(f"predict exited {code}")
    return json.loads(out.getvalue())["predictions"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    mnist = load_dataset("mnist", args.data_dir).test
    fashion = load_dataset("fashion-mnist", args.data_dir).test
    noise = outliers.make("uniform_noise", args.n, outliers.TEST_SEED)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sets = {
            "mnist": write_pngs(folder, "mnist", mnist.images[: args.n]),
            "fashion": write_pngs(folder, "fashion", fashion.images[: args.n]),
            "noise": write_pngs(folder, "noise", noise),
        }
        rows = {name: predict(args.run_dir, paths, args.threads) for name, paths in sets.items()}
    digits, labels = rows["mnist"], mnist.labels[: args.n].tolist()
    # A digit read as several (a number) is wrong; each row is a number of one digit or more.
    read = [r["digits"][0]["label"] if len(r["digits"]) == 1 else None for r in digits]
    answered = [(p, y) for p, r, y in zip(read, digits, labels, strict=True) if not r["abstain"]]
    print(f"{args.run_dir} through `mnistlab predict` ({args.n:,} images of each set, PNGs 280x280):")
    print(
        f"  MNIST test digits: abstained {1 - len(answered) / len(digits):.2%}, right on "
        f"{sum(p == y for p, y in answered) / max(1, len(answered)):.2%} of the rest, "
        f"read right {sum(p == y for p, y in answered) / len(digits):.2%} of all"
    )
    for name in ("fashion", "noise"):
        refused = sum(r["abstain"] for r in rows[name]) / len(rows[name])
        print(f"  {'Fashion-MNIST test' if name == 'fashion' else 'uniform noise'}: abstained {refused:.2%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
