"""Finding the digits of a written number: cleaned ink to one piece of ink per digit, left to right.

The ink is what `predict` already finds (`digits.image_ink`: grey, light on dark, background
and faint noise removed). Then, all with numpy and scipy, no loop over pixels:

1. connected components of the ink (8-connected, `scipy.ndimage.label`);
2. specks, components whose longer side is under SPECK of the tallest one's height, are dropped
   and counted;
3. pieces of one digit are merged: a 5's flag, a 4 or 7 in two strokes, a broken stroke. Two
   components join when their columns overlap by OVERLAP of the narrower one's width, or when
   they nearly touch (at most 2 * near_radius px apart, found by dilating the ink and labelling
   again); joins are transitive (`scipy.sparse.csgraph.connected_components`);
4. a piece wider than WIDE times its height may be two digits touching: it is cut along the
   least-ink paths from top to bottom that start at the column profile's minima (a dynamic
   programme, one row at a time, over all the candidate paths at once), and the cut the model
   reads most confidently is kept when it reads better than the whole piece ("segmentation by
   recognition"; Casey & Lecolinet, "A survey of methods and strategies in character
   segmentation", IEEE TPAMI 18(7), 1996). The parts are tried again, up to DEPTH times.

The model enters only as `confidence`, a function from (N, 28, 28) uint8 digits to (N,) scores
in [0, 1] (the reader's calibrated top probability), so this module holds no model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from mnistlab.data.layout import centre_digit
from mnistlab.errors import ImageError

MAX_DIGITS = 32  # more digit candidates than this is not a number to read
MAX_COMPONENTS = 1024  # more components than this, even before merging, is not one either
SPECK = 0.2  # of the tallest component's height: a smaller component is not ink of a digit
OVERLAP = 0.3  # of the narrower piece's width: column overlap that makes two pieces one digit
NEAR = 0.03  # of the median component height: the dilation radius (at least 1 px) of "nearly touch"
FRAGMENT = 0.5  # of the median piece height: a shorter piece overlapping another's columns joins it
FAINT = 0.03  # of the heaviest piece's ink: a lighter piece (stray dots in a column) is a speck too
WIDE = 0.9  # width / height above which a piece may be two touching digits (22 % of MNIST test digits are)
MIN_PART = 0.1  # of the piece's height: the narrowest part a cut may leave (a "1")
CUTS = 6  # candidate cut paths per wide piece
DEPTH = 3  # times a piece may be cut again (up to 2**DEPTH digits from one piece)
SPLIT_MARGIN = 0.2  # a cut is kept when 1 - its joint confidence < this times 1 - the whole's
STEP_COST = 0.1  # the cost of a diagonal step of a cut path, in units of full ink per pixel

Confidence = Callable[[np.ndarray], np.ndarray]  # (N, 28, 28) uint8 -> (N,) float in [0, 1]


@dataclass(frozen=True)
class Piece:
    """The ink of one digit: its box in the ink's pixels and its ink alone inside the box."""

    box: tuple[int, int, int, int]  # x0, y0, x1, y1; x1 and y1 exclusive
    ink: np.ndarray  # (y1 - y0, x1 - x0) float32, zero outside this digit

    @property
    def height(self) -> int:
        return self.box[3] - self.box[1]

    @property
    def width(self) -> int:
        return self.box[2] - self.box[0]


@dataclass(frozen=True)
class Segmentation:
    pieces: tuple[Piece, ...]  # left to right
    dropped: int  # specks dropped


def segment(ink: np.ndarray, confidence: Confidence | None, *, name: str = "The image") -> Segmentation:
    """The digits of cleaned ink (H, W), left to right; `confidence` decides cuts (None: no cuts).

    Raises ImageError when more than MAX_DIGITS candidates are found.
    """
    # Work on the ink's bounding box plus a margin wider than any dilation: a canvas is mostly blank.
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if rows.size == 0:
        return Segmentation((), 0)
    margin = 2 + max(1, round(NEAR * (rows[-1] - rows[0] + 1)))
    y0, x0 = max(0, rows[0] - margin), max(0, cols[0] - margin)
    window = ink[y0 : rows[-1] + 1 + margin, x0 : cols[-1] + 1 + margin]
    pieces, dropped = merged_pieces(window, name)
    pieces = [Piece((p.box[0] + x0, p.box[1] + y0, p.box[2] + x0, p.box[3] + y0), p.ink) for p in pieces]
    if len(pieces) > MAX_DIGITS:
        raise ImageError(_too_many(name, len(pieces)))
    if confidence is not None:
        pieces = split_touching(pieces, confidence)
        if len(pieces) > MAX_DIGITS:
            raise ImageError(_too_many(name, len(pieces)))
    pieces.sort(key=lambda p: (p.box[0] + p.box[2], p.box[1]))
    return Segmentation(tuple(pieces), dropped)


def _too_many(name: str, count: int) -> str:
    return (
        f"{name} holds {count} digit candidates, more than the {MAX_DIGITS} a number may have; "
        "crop it to one row of digits."
    )


def merged_pieces(ink: np.ndarray, name: str = "The image") -> tuple[list[Piece], int]:
    """Steps 1-3: components, specks dropped, pieces of one digit merged."""
    labels, count = ndimage.label(ink > 0, structure=np.ones((3, 3), dtype=bool))
    if count == 0:
        return [], 0
    boxes = np.array([(s[1].start, s[0].start, s[1].stop, s[0].stop) for s in ndimage.find_objects(labels)])
    heights, widths = boxes[:, 3] - boxes[:, 1], boxes[:, 2] - boxes[:, 0]
    kept = np.maximum(heights, widths) >= SPECK * heights.max()
    index = np.flatnonzero(kept)  # component i + 1 is labelled i + 1
    if len(index) > MAX_COMPONENTS:  # the pairwise tables below grow as the square
        raise ImageError(_too_many(name, len(index)))
    boxes, widths = boxes[index], widths[index]

    # Columns overlapping by OVERLAP of the narrower width (pairwise; a few dozen pieces at most).
    overlap = np.minimum(boxes[:, None, 2], boxes[None, :, 2]) - np.maximum(
        boxes[:, None, 0], boxes[None, :, 0]
    )
    joined = overlap >= OVERLAP * np.minimum(widths[:, None], widths[None, :])
    # Nearly touching: the same component once every piece is dilated by `radius` px.
    radius = max(1, round(NEAR * float(np.median(heights[index]))))
    kept_mask = np.isin(labels, index + 1)
    dilated, _ = ndimage.label(
        ndimage.binary_dilation(kept_mask, np.ones((3, 3), dtype=bool), iterations=radius),
        structure=np.ones((3, 3), dtype=bool),
    )
    # Each component's dilated label (all its pixels share one): scattered, not searched for.
    dilated_of = np.zeros(count + 1, dtype=dilated.dtype)
    dilated_of[labels.ravel()] = dilated.ravel()
    near = dilated_of[index + 1]
    joined |= near[:, None] == near[None, :]
    # A fragment (a 5's flag written apart) joins the piece whose columns it overlaps most.
    heights = boxes[:, 3] - boxes[:, 1]
    fragment = heights < FRAGMENT * np.median(heights)
    best = np.where(np.eye(len(index), dtype=bool), -1, overlap).argmax(axis=1)
    hit = fragment & (overlap[np.arange(len(index)), best] > 0) & (len(index) > 1)
    joined[np.flatnonzero(hit), best[hit]] = True
    groups, group_of = connected_components(csr_matrix(joined), directed=False)

    group_labels = np.zeros(count + 1, dtype=np.int64)  # 0: background or speck
    group_labels[index + 1] = group_of + 1
    grouped = group_labels[labels]
    mass = ndimage.sum_labels(ink, grouped, np.arange(1, groups + 1))
    pieces = []
    for g, (rows, cols) in enumerate(ndimage.find_objects(grouped, max_label=groups), start=1):
        if mass[g - 1] < FAINT * mass.max():
            continue
        crop = np.where(grouped[rows, cols] == g, ink[rows, cols], 0.0).astype(np.float32)
        pieces.append(Piece((cols.start, rows.start, cols.stop, rows.stop), crop))
    faint = int((mass < FAINT * mass.max()).sum())
    return pieces, int(count - kept.sum()) + faint


def split_touching(pieces: list[Piece], confidence: Confidence) -> list[Piece]:
    """Step 4, a round per level of cutting, each round's candidates through the model at once."""
    done, pending = [], list(pieces)
    for _ in range(DEPTH):
        wide = [p for p in pending if p.width > WIDE * p.height]
        done += [p for p in pending if p.width <= WIDE * p.height]
        if not wide:
            return done
        cuts = [candidate_cuts(p) for p in wide]
        images = [centre_digit(p.ink) for p in wide] + [
            centre_digit(part.ink) for options in cuts for pair in options for part in pair
        ]
        scores = np.asarray(confidence(np.stack(images)), dtype=np.float64)
        whole, parts = scores[: len(wide)], scores[len(wide) :]
        pending, offset = [], 0
        for piece, options, own in zip(wide, cuts, whole, strict=True):
            joint = parts[offset : offset + 2 * len(options)].reshape(-1, 2).prod(axis=1)
            offset += 2 * len(options)
            # A cut must leave its parts' error well below the whole's: a model reads many
            # pairs of digits as one digit with confidence, but it reads a wide single
            # digit's halves worse still (chosen on validation numbers: see docs).
            if len(options) and 1.0 - joint.max() < SPLIT_MARGIN * (1.0 - own):
                pending += list(options[int(joint.argmax())])
            else:
                done.append(piece)
    return done + pending


def candidate_cuts(piece: Piece) -> list[tuple[Piece, Piece]]:
    """The (left, right) parts of the piece along its CUTS least-ink top-to-bottom paths."""
    ink, height, width = piece.ink, piece.height, piece.width
    margin = max(1, round(MIN_PART * height))
    if width < 2 * margin + 1:
        return []
    profile = ink.sum(axis=0)
    inner = np.arange(margin, width - margin)
    minima = inner[(profile[inner] <= profile[inner - 1]) & (profile[inner] <= profile[inner + 1])]
    starts = minima[np.argsort(profile[minima], kind="stable")][:CUTS] if minima.size else inner[[0]]
    paths = cut_paths(ink / max(float(ink.max()), 1e-6), starts, margin)
    options = []
    for path in paths:
        left = np.arange(width)[None, :] <= path[:, None]  # ink on the path goes to the left part
        pair = tuple(_part(piece, np.where(side, ink, 0.0)) for side in (left, ~left))
        if all(p is not None for p in pair):
            options.append(pair)
    return options  # type: ignore[return-value]


def cut_paths(ink: np.ndarray, starts: np.ndarray, margin: int) -> np.ndarray:
    """Least-cost 8-connected paths from the top row at each of `starts` to the bottom row,
    staying within [margin, width - margin): (K, H) column per row. Cost: the ink crossed."""
    height, width = ink.shape
    outside = np.full(width, np.inf)
    outside[margin : width - margin] = 0.0
    cost = np.full((len(starts), width), np.inf)
    cost[np.arange(len(starts)), starts] = ink[0, starts]
    moves = np.zeros((height, len(starts), width), dtype=np.int8)  # -1, 0, +1: where each came from
    for y in range(1, height):  # a row at a time, all paths and columns at once
        from_left = np.concatenate([np.full((len(starts), 1), np.inf), cost[:, :-1]], axis=1) + STEP_COST
        from_right = np.concatenate([cost[:, 1:], np.full((len(starts), 1), np.inf)], axis=1) + STEP_COST
        options = np.stack([from_left, cost, from_right])  # (3, K, W)
        choice = options.argmin(axis=0)
        cost = options.min(axis=0) + ink[y] + outside
        moves[y] = choice - 1
    paths = np.empty((len(starts), height), dtype=np.int64)
    paths[:, -1] = cost.argmin(axis=1)
    for y in range(height - 1, 0, -1):
        paths[:, y - 1] = paths[:, y] + moves[y, np.arange(len(starts)), paths[:, y]]
    return paths


def _part(piece: Piece, ink: np.ndarray) -> Piece | None:
    """The part of a piece holding `ink`, cropped to it, or None when it is too small to be a digit."""
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if rows.size == 0 or max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 < SPECK * piece.height:
        return None
    x0, y0 = piece.box[0], piece.box[1]
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].astype(np.float32)
    return Piece((x0 + cols[0], y0 + rows[0], x0 + cols[-1] + 1, y0 + rows[0] + crop.shape[0]), crop)
