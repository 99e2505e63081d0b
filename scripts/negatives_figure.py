"""The sample page of the negatives that look like pen strokes (docs/figures/negatives.png).

    MNISTLAB_DATA=/path/to/data python scripts/negatives_figure.py   # rewrites the figure
    python scripts/negatives_figure.py --out /tmp/negatives.png --count 12 --seed 3

One row per family and split, `--count` images each, as the model sees them (28x28, after
the pre-processing of a drawing), drawn dark on white like the project's other digit figures.
The joined pairs are made from the split's own MNIST digits, so MNIST must be on this machine.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from mnistlab.data.negatives import FAMILIES, SPLITS, make_negatives
from mnistlab.data.splits import load_dataset
from mnistlab.errors import MnistlabError
from mnistlab.visualize.canvas import INK, new_figure, save_figure

REPO = Path(__file__).resolve().parents[1]
GAP = 4  # px of white between images


def mosaic(rows: list[np.ndarray]) -> np.ndarray:
    """Rows of uint8 images (k, 28, 28) as one light-on-dark array with gaps."""
    count = max(len(r) for r in rows)
    cell = 28 + GAP
    out = np.zeros((len(rows) * cell - GAP, count * cell - GAP), dtype=np.uint8)
    for i, row in enumerate(rows):
        for j, image in enumerate(row):
            out[i * cell : i * cell + 28, j * cell : j * cell + 28] = image
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "figures" / "negatives.png")
    parser.add_argument("--count", type=int, default=8, help="images per family and split")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None, help="where MNIST is (default: MNISTLAB_DATA)")
    args = parser.parse_args(argv)
    try:
        mnist = load_dataset("mnist", args.data_dir, download=False)
        rows, labels = [], []
        for family in FAMILIES:
            for split in SPLITS:
                digits = mnist.split(split).images if family == "joined_pairs" else None
                rows.append(make_negatives(family, args.count, split=split, seed=args.seed, digits=digits))
                labels.append(f"{family.replace('_', ' ')}\n{split}")
    except MnistlabError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    image = mosaic([r.numpy() for r in rows])
    fig = new_figure(0.62 * args.count + 1.6, 0.62 * len(rows) + 0.4)
    ax = fig.add_subplot()
    # The gaps are background (0): with the INK map, white paper between dark-ink digits.
    ax.imshow(image, cmap=INK, vmin=0, vmax=255, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([i * (28 + GAP) + 14 for i in range(len(rows))], labels, fontsize=9)
    for side in ax.spines.values():
        side.set_visible(False)
    ax.tick_params(length=0)
    save_figure(fig, args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} kB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
