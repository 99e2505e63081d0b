"""A line of ink to the line reader's input: height 32, any width, ink peaking at 1.0.

Input: light-on-dark ink, float (H, W) on 0..255, background exactly 0 (what
`mnistlab.inference.digits.image_ink(image)[0]` returns for a person's image; for a drawing,
the pad's intensities). The steps, numpy only, written so they port to JavaScript as they are:

1. Crop to the bounding box of the pixels > 0: rows y0..y1-1, columns x0..x1-1 (h = y1 - y0,
   w = x1 - x0). No such pixel: ImageError ("... holds no ink").
2. Several rows of writing: the crop's rows holding ink split, at an empty band of rows, into
   row groups (runs of rows holding ink); when two groups each at least ROW_GROUP (0.6) of the
   tallest group's height are separated by an empty band at least ROW_GAP (0.25) of that
   height: ImageError ("... has several rows of writing; crop
   one row.").
3. Scale factor s = INK_HEIGHT / h (INK_HEIGHT = 20); the output size is 20 rows by
   w_out = max(1, round(w * s)) columns (round half to even, numpy's and `Math.round` agree
   except on exact halves, which the JS port takes as round-half-even too).
4. Exact area averaging, separable (rows then columns): for an axis of n_in input pixels and
   n_out output pixels, output pixel k covers the input interval [k * n_in / n_out,
   (k + 1) * n_in / n_out); the coverage matrix A (n_out, n_in) holds
   A[k, j] = overlap([j, j + 1), that interval) / (n_in / n_out), so each row sums to 1.
   out = A_h @ crop @ A_w.T, (20, w_out).
5. A zero canvas (32, w_out + 16): the 20 rows go to rows 6..25, the columns to 8..w_out+7
   (8 px of empty columns left and right).
6. Divide by the canvas maximum so ink peaks at 1.0; float32.

`line_batch` is the same for many lines at once in torch (training), padded on the right with
zeros to the widest; `tests/test_lines.py` checks the two agree.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch

from mnistlab.errors import ImageError

HEIGHT = 32  # rows of the reader's input
INK_HEIGHT = 20  # rows the ink is scaled to, as MNIST's 20 px box
INK_TOP = 6  # first ink row; ink occupies rows 6..25 (INK_TOP + INK_HEIGHT exclusive)
PAD = 8  # empty columns left and right
# Two rows of writing: row groups of comparable height apart by a real band. A stroke cut off
# a third of the way down a digit leaves groups of 1:2 a few rows apart, which stay one row.
ROW_GROUP = 0.6  # a row group at least this fraction of the tallest one's height
ROW_GAP = 0.25  # an empty band at least this fraction of the tallest group's height


def coverage(n_in: int, n_out: int) -> np.ndarray:
    """The area-averaging matrix (n_out, n_in), float64: each output pixel the coverage-weighted
    mean of the input pixels its interval [k n_in/n_out, (k+1) n_in/n_out) covers."""
    step = n_in / n_out
    lo = np.arange(n_out)[:, None] * step
    j = np.arange(n_in)[None, :]
    overlap = np.clip(np.minimum(j + 1, lo + step) - np.maximum(j, lo), 0.0, None)
    return overlap / step


def out_width(w: int, h: int) -> int:
    return max(1, int(np.round(w * INK_HEIGHT / h)))


def check_one_row(rows_with_ink: np.ndarray, name: str) -> None:
    """ImageError when the ink's rows (a boolean per row of the crop) form several rows of writing."""
    groups, start = [], None  # (first row, rows) of each run of rows holding ink
    for i, ink in enumerate([*rows_with_ink, False]):
        if ink and start is None:
            start = i
        if not ink and start is not None:
            groups.append((start, i - start))
            start = None
    tallest = max(rows for _, rows in groups)
    tall = [(first, rows) for first, rows in groups if rows >= ROW_GROUP * tallest]
    for (a, rows_a), (b, _) in itertools.pairwise(tall):
        if b - (a + rows_a) >= ROW_GAP * tallest:
            raise ImageError(f"{name} has several rows of writing; crop one row.")


def preprocess_line(ink: np.ndarray, *, name: str = "The image") -> np.ndarray:
    """Light-on-dark ink (H, W) on 0..255 to the reader's input (32, w_out + 16) float32."""
    ink = np.asarray(ink, dtype=np.float64)
    rows, cols = np.flatnonzero((ink > 0).any(axis=1)), np.flatnonzero((ink > 0).any(axis=0))
    if rows.size == 0:
        raise ImageError(f"{name} holds no ink.")
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    check_one_row((crop > 0).any(axis=1), name)
    h, w = crop.shape
    w_out = out_width(w, h)
    scaled = coverage(h, INK_HEIGHT) @ crop @ coverage(w, w_out).T
    canvas = np.zeros((HEIGHT, w_out + 2 * PAD), dtype=np.float64)
    canvas[INK_TOP : INK_TOP + INK_HEIGHT, PAD : PAD + w_out] = scaled
    return (canvas / canvas.max()).astype(np.float32)


def _coverage_batch(
    start: torch.Tensor, n_in: torch.Tensor, n_out: torch.Tensor, size_in: int, size_out: int
):
    """Per line b, the coverage matrix (size_out, size_in) of input pixels start..start+n_in-1
    onto output pixels 0..n_out-1 (zero beyond), float32: `coverage` placed in a bigger frame."""
    step = (n_in.double() / n_out.double())[:, None, None]  # (B, 1, 1)
    lo = torch.arange(size_out, dtype=torch.float64)[None, :, None] * step  # (B, size_out, 1)
    j = torch.arange(size_in, dtype=torch.float64)[None, None, :] - start.double()[:, None, None]
    overlap = (torch.minimum(j + 1, lo + step) - torch.maximum(j, lo)).clamp(min=0.0)
    valid = torch.arange(size_out)[None, :, None] < n_out[:, None, None]
    return (overlap / step * valid).float()


def line_batch(raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Raw light-on-dark lines (B, H, W) on 0..255 (each with ink) to the reader's inputs
    (B, 32, W_max) float32, right-padded with zeros, and each line's own width (B,) int64."""
    ink = raw > 0
    rows, cols = ink.any(dim=2), ink.any(dim=1)  # (B, H), (B, W)
    ar_h, ar_w = torch.arange(raw.shape[1]), torch.arange(raw.shape[2])
    y0 = torch.where(rows, ar_h, raw.shape[1]).amin(1)
    y1 = torch.where(rows, ar_h, -1).amax(1) + 1
    x0 = torch.where(cols, ar_w, raw.shape[2]).amin(1)
    x1 = torch.where(cols, ar_w, -1).amax(1) + 1
    h, w = y1 - y0, x1 - x0
    w_out = torch.round(w.double() * INK_HEIGHT / h.double()).long().clamp(min=1)  # half to even, as numpy
    a_h = _coverage_batch(y0, h, torch.full_like(h, INK_HEIGHT), raw.shape[1], INK_HEIGHT)
    a_w = _coverage_batch(x0, w, w_out, raw.shape[2], int(w_out.max()))
    scaled = a_h @ raw.float() @ a_w.transpose(1, 2)  # (B, 20, w_max)
    out = torch.zeros(raw.shape[0], HEIGHT, scaled.shape[2] + 2 * PAD)
    out[:, INK_TOP : INK_TOP + INK_HEIGHT, PAD : PAD + scaled.shape[2]] = scaled
    out = out / out.amax(dim=(1, 2), keepdim=True)
    return out, w_out + 2 * PAD
