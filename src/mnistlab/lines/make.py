"""Seeded written lines made from MNIST digits and pen-stroke negatives, a batch at a time.

A line is 1 to 8 symbols set left to right on a black field. Each symbol is an MNIST digit of
one split (training digits to learn from, validation digits to choose, test digits to report)
or, in a fraction of the lines, one symbol is a negative (`mnistlab.data.negatives`: letters
and doodles of the same split's fonts and shapes), whose target is "not a digit" (11): a
reader must then refuse the whole line, never read the letter as a digit.

Each symbol is jittered on its own (`LineStyle`): scale, width/height aspect, slant (a shear),
pen width (one pixel thicker or thinner) and baseline (rows up or down). Neighbours are set
`gap` times the narrower one's ink width apart, from -35 % (overlapping) to +60 %, the next
symbol starting at least MIN_ADVANCE px after the previous one's left edge. Pasting is
batched: every symbol of a slot is pasted into every line at once, the stronger ink winning
where two overlap (max). The raw lines are uint8-valued float32 on 0..255 with the faint
edge (< 20 % of the line's peak) cleared, as `clean_ink` clears a person's image.

Targets: 0 = CTC blank, 1..10 = digits 0..9, 11 = not a digit. Everything depends on the
generator's seed only.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from mnistlab.data.layout import NOISE_FRACTION

NOT_A_DIGIT = 11
GLYPH = 36  # each 28x28 symbol is jittered in a 36x36 frame (room to grow and slant)
MARGIN = 4  # px of empty field around each raw line
MIN_ADVANCE = 3  # px: a symbol starts at least this far right of the previous one's left edge


@dataclass(frozen=True)
class LineStyle:
    """How lines vary; the defaults are the training recipe's."""

    min_symbols: int = 1
    max_symbols: int = 8
    gap: tuple[float, float] = (-0.35, 0.6)  # x the narrower neighbour's ink width
    scale: tuple[float, float] = (0.75, 1.1)  # of MNIST's 20 px box
    aspect: tuple[float, float] = (0.85, 1.15)  # width scale / height scale
    slant: float = 0.25  # shear, x += slant * y at most, either way
    baseline: int = 4  # px up or down, at MNIST's scale
    thicker: float = 0.25  # chance of a pen one pixel wider
    thinner: float = 0.1  # chance of a pen one pixel narrower
    negative_rate: float = 0.0  # chance a line holds one "not a digit" symbol


@dataclass(frozen=True)
class Lines:
    raw: torch.Tensor  # (B, H, W) float32 on 0..255, light on dark, right-padded with zeros
    targets: torch.Tensor  # (B, max_symbols) int64, 1..11, padded with 0
    lengths: torch.Tensor  # (B,) int64 symbols per line

    def truth(self, i: int) -> str:
        """Line i's symbols as text; "?" for "not a digit"."""
        return "".join(
            "?" if t == NOT_A_DIGIT else str(int(t) - 1) for t in self.targets[i, : self.lengths[i]]
        )


def _uniform(g: torch.Generator, shape: tuple[int, ...], lo: float, hi: float) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(shape, generator=g)


def _jitter(glyphs: torch.Tensor, style: LineStyle, g: torch.Generator) -> torch.Tensor:
    """(G, 28, 28) on 0..255 to (G, 36, 36): scaled, slanted and re-inked, rounded to integers."""
    n = glyphs.shape[0]
    framed = F.pad(glyphs.float(), (4, 4, 4, 4))[:, None]  # (G, 1, 36, 36)
    s = _uniform(g, (n,), *style.scale)
    sx = s * _uniform(g, (n,), *style.aspect)
    k = _uniform(g, (n,), -style.slant, style.slant)
    theta = torch.zeros(n, 2, 3)  # output coords -> input coords, normalised to [-1, 1]
    theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 1] = 1 / sx, -k / s, 1 / s
    grid = F.affine_grid(theta, list(framed.shape), align_corners=False)
    out = F.grid_sample(framed, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    pen = torch.rand(n, generator=g)
    padded = F.pad(out, (0, 1, 0, 1))  # a 2x2 window's max / min: the pen one pixel wider / narrower
    corners = (padded[..., :-1, :-1], padded[..., 1:, :-1], padded[..., :-1, 1:], padded[..., 1:, 1:])
    thick = torch.stack(corners).amax(0)
    thin = torch.stack(corners).amin(0)
    thin = torch.where(thin.amax(dim=(1, 2, 3), keepdim=True) > 64, thin, out)  # never erase a symbol
    out = torch.where((pen < style.thicker)[:, None, None, None], thick, out)
    out = torch.where((pen > 1 - style.thinner)[:, None, None, None], thin, out)
    return out[:, 0].round().clamp(0, 255)


def make_lines(
    digits: torch.Tensor,
    labels: torch.Tensor,
    count: int,
    seed: int,
    style: LineStyle = LineStyle(),
    negatives: torch.Tensor | None = None,
    lengths: torch.Tensor | None = None,
) -> Lines:
    """`count` seeded lines of `digits` (N, 28, 28) uint8 with `labels` (N,), and of `negatives`
    (M, 28, 28) uint8 when style.negative_rate > 0; `lengths` fixes each line's symbol count."""
    g = torch.Generator().manual_seed(seed)
    top = style.max_symbols
    if lengths is None:
        lengths = torch.randint(style.min_symbols, top + 1, (count,), generator=g)
    top = int(lengths.max())
    picks = torch.randint(0, len(labels), (count, top), generator=g)
    glyphs, targets = digits[picks].reshape(-1, 28, 28), labels[picks].long() + 1  # (B*L, 28, 28), (B, L)
    if negatives is not None and style.negative_rate > 0:
        hit = torch.rand(count, generator=g) < style.negative_rate
        slot = (torch.rand(count, generator=g) * lengths).long()
        which = torch.randint(0, len(negatives), (count,), generator=g)
        flat = (torch.arange(count) * top + slot)[hit]
        glyphs = glyphs.clone()
        glyphs[flat] = negatives[which[hit]]
        targets[hit, slot[hit]] = NOT_A_DIGIT
    valid = torch.arange(top)[None, :] < lengths[:, None]  # (B, L)
    targets = torch.where(valid, targets, 0)
    framed = _jitter(glyphs, style, g) * valid.reshape(-1, 1, 1)  # (B*L, 36, 36)
    ink_cols = framed.amax(dim=1) > 0  # (B*L, 36)
    cols = torch.arange(GLYPH)
    left = torch.where(ink_cols, cols, GLYPH).amin(1).reshape(count, top)
    right = torch.where(ink_cols, cols + 1, 0).amax(1).reshape(count, top)
    width = (right - left).clamp(min=1)
    frac = _uniform(g, (count, top), *style.gap)
    narrower = torch.minimum(width, torch.roll(width, -1, dims=1)).float()
    advance = torch.maximum(width + (frac * narrower).round().long(), torch.full_like(width, MIN_ADVANCE))
    x = torch.cumsum(torch.cat([torch.zeros(count, 1, dtype=torch.long), advance[:, :-1]], 1), 1)
    col0 = torch.where(valid, x - left, 0)  # where each frame's column 0 lands
    col0 = col0 - torch.where(valid, col0, col0.amax()).amin(1, keepdim=True) + MARGIN
    shift = torch.randint(-style.baseline, style.baseline + 1, (count, top), generator=g)
    row0 = MARGIN + style.baseline + shift
    height = GLYPH + 2 * (MARGIN + style.baseline)
    width_all = int((col0 + GLYPH).amax()) + MARGIN
    canvas = torch.zeros(count, height * width_all)
    i, j = torch.meshgrid(torch.arange(GLYPH), torch.arange(GLYPH), indexing="ij")
    frames = framed.reshape(count, top, GLYPH * GLYPH)
    for slot_index in range(top):  # one paste per slot, every line at once
        index = (
            (row0[:, slot_index, None] + i.reshape(1, -1)) * width_all
            + col0[:, slot_index, None]
            + j.reshape(1, -1)
        )
        canvas.scatter_reduce_(1, index, frames[:, slot_index], reduce="amax")
    raw = canvas.reshape(count, height, width_all)
    raw = torch.where(raw >= NOISE_FRACTION * raw.amax(dim=(1, 2), keepdim=True), raw, 0.0)
    return Lines(raw, targets, lengths)


def line_image(lines: Lines, i: int) -> torch.Tensor:
    """Line i's raw field (H, W) cut to its own width (the right padding of the batch removed)."""
    raw = lines.raw[i]
    cols = torch.nonzero(raw.amax(0) > 0)[:, 0]
    return raw[:, : int(cols[-1]) + 1 + MARGIN]
