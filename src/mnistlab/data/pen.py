"""A pen that draws like a hand: a shape's centre line, wobbled, slanted and inked, as MNIST.

Every negative that should look written (`mnistlab.data.negatives`) is first a cloud of
points along its centre line, in units where the shape's longer side spans 2: a letter's
skeleton (`thin`, Zhang & Suen, "A fast parallel algorithm for thinning digital patterns",
CACM 1984, vectorised over whole images) or a doodle's polylines, sampled densely
(`densify`). `pen_ink` then draws it as a person would:

    slant (a shear of -0.10..0.45, leaning right more often, as most hands do)
    -> rotation (±10°) and aspect (width x0.75..1.25)
    -> wobble: a smooth random displacement field, three plane waves per axis,
       each up to WOBBLE units, of 0.25-0.65 cycles across the shape
    -> ink: every pixel within half a pen width of the line, anti-aliased over 1 px,
       the pen 7-17 % of the shape's longer side (MNIST's strokes: 2-3 px in 20 px)

at `SIDE_PX` px to the longer side; `to_mnist` then gives the (28, 28) uint8 image through
the pre-processing `predict` gives a drawing (`data.layout.preprocess_intensities`:
ink crop, longer side to 20 px, centre of mass at the centre). All draws come from the
numpy Generator passed in; there is no per-pixel Python.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from mnistlab.data.layout import preprocess_intensities

SIDE_PX = 40  # px: the longer side of a shape as inked, twice the 20 px box it is scaled to
PEN = (0.07, 0.17)  # pen width as a fraction of the longer side
SLANT = (-0.10, 0.45)  # shear: x moves by slant * height, right-leaning when positive
ROTATION = np.radians(10.0)
ASPECT = (0.75, 1.25)
WOBBLE = 0.035  # units (the shape spans 2): the amplitude of each of the field's waves
STEP = 0.02  # units between the points a polyline is sampled at: 0.4 px at SIDE_PX


def thin(masks: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning of boolean images (N, H, W) to 1 px wide skeletons, all at once."""
    image = np.pad(np.asarray(masks, dtype=bool), ((0, 0), (1, 1), (1, 1)))
    while True:
        removed = False
        for step in (0, 1):
            c = image[:, 1:-1, 1:-1]
            # The 8 neighbours P2..P9, clockwise from north, as in the paper.
            p = [
                image[:, :-2, 1:-1],
                image[:, :-2, 2:],
                image[:, 1:-1, 2:],
                image[:, 2:, 2:],
                image[:, 2:, 1:-1],
                image[:, 2:, :-2],
                image[:, 1:-1, :-2],
                image[:, :-2, :-2],
            ]
            count = np.sum(p, axis=0)
            turns = np.sum([~p[k] & p[(k + 1) % 8] for k in range(8)], axis=0)  # 0 -> 1 in order
            n, e, s, w = p[0], p[2], p[4], p[6]
            side = ~(n & e & s) & ~(e & s & w) if step == 0 else ~(n & e & w) & ~(n & s & w)
            delete = c & (count >= 2) & (count <= 6) & (turns == 1) & side
            if delete.any():
                c[delete] = False  # a view: deletes in `image`
                removed = True
        if not removed:
            return image[:, 1:-1, 1:-1].copy()


_NEIGHBOURS = np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=np.uint8)
_SQUARE = np.ones((3, 3), dtype=bool)


def prune(skeleton: np.ndarray, length: int) -> np.ndarray:
    """A skeleton (H, W) without its side branches of at most `length` px (a font's serifs).

    Morphological pruning: every end is eaten back `length` px, then the ends that are left
    grow back as far through what was eaten, so only branches that vanished stay gone; parts
    that vanish whole (a dot, a short dash) are kept.
    """

    def ends(image: np.ndarray) -> np.ndarray:
        return image & (ndimage.convolve(image.astype(np.uint8), _NEIGHBOURS, mode="constant") == 1)

    kept = skeleton.copy()
    for _ in range(length):
        kept &= ~ends(kept)
    eaten, front = skeleton & ~kept, ends(kept)
    pruned = kept.copy()
    for _ in range(length):
        front = ndimage.binary_dilation(front, _SQUARE) & eaten & ~pruned
        pruned |= front
    parts, count = ndimage.label(skeleton, _SQUARE)
    survived = np.zeros(count + 1, dtype=bool)
    survived[parts[pruned]] = True
    return pruned | (skeleton & ~survived[parts])  # a part with nothing left comes back whole


def skeleton_points(skeleton: np.ndarray) -> np.ndarray:
    """A skeleton's pixels (y, x) and the midpoints between touching ones: points <= 0.71 px apart."""
    points = [np.argwhere(skeleton).astype(np.float64)]
    height, width = skeleton.shape
    for dy, dx in ((0, 1), (1, 1), (1, 0), (1, -1)):
        here = skeleton[: height - dy, max(0, -dx) : width - max(0, dx)]
        there = skeleton[dy:, max(0, dx) : width - max(0, -dx)]
        start = np.array([0.0, max(0, -dx)])  # where `here` starts in the skeleton
        points.append(np.argwhere(here & there) + start + np.array([dy / 2, dx / 2]))
    return np.concatenate(points)


def densify(polylines: list[np.ndarray], step: float = STEP) -> np.ndarray:
    """Points (M, 2) along each polyline (K, 2) of (y, x) vertices, at most `step` apart."""
    points = []
    for line in polylines:
        line = np.asarray(line, dtype=np.float64).reshape(-1, 2)
        if len(line) == 1:  # a dot
            points.append(line)
            continue
        lengths = np.linalg.norm(np.diff(line, axis=0), axis=1)
        along = np.concatenate([[0.0], np.cumsum(lengths)])
        t = np.linspace(0.0, along[-1], max(2, int(np.ceil(along[-1] / step)) + 1))
        points.append(np.stack([np.interp(t, along, line[:, 0]), np.interp(t, along, line[:, 1])], 1))
    return np.concatenate(points)


def normalise(points: np.ndarray) -> np.ndarray:
    """Points centred on their bounding box, the longer side spanning 2 units."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    return (points - (lo + hi) / 2) * (2.0 / max(float((hi - lo).max()), 1e-9))


def hand(points: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The points (M, 2) as a hand moves a pen along them: slanted, turned, stretched, wobbled."""
    y, x = normalise(points).T
    x = x * rng.uniform(*ASPECT) - rng.uniform(*SLANT) * y
    angle = rng.uniform(-ROTATION, ROTATION)
    y, x = np.cos(angle) * y + np.sin(angle) * x, -np.sin(angle) * y + np.cos(angle) * x
    moved = np.stack([y, x], axis=1)
    # Three plane waves per axis: directions uniform, 1.6-4 rad per unit (0.25-0.65 cycles).
    direction = rng.uniform(0, 2 * np.pi, (2, 3))
    frequency = rng.uniform(1.6, 4.0, (2, 3))
    k = frequency[..., None] * np.stack([np.cos(direction), np.sin(direction)], -1)  # (2, 3, 2)
    phase = rng.uniform(0, 2 * np.pi, (2, 3))
    amplitude = rng.uniform(0, WOBBLE, (2, 3))
    waves = np.sin(np.einsum("akd,md->amk", k, moved) + phase[:, None, :])  # (2, M, 3)
    return moved + np.einsum("amk,ak->ma", waves, amplitude)


def pen_ink(points: np.ndarray, rng: np.random.Generator, pen: tuple[float, float] = PEN) -> np.ndarray:
    """Float ink (H, W) in 0..1 of a pen of random width (in `pen`, fractions of the longer side)
    drawn along the points (y, x)."""
    width = rng.uniform(*pen) * SIDE_PX
    lo, hi = points.min(axis=0), points.max(axis=0)
    scale = (SIDE_PX - 1) / max(float((hi - lo).max()), 1e-9)
    margin = int(np.ceil(width / 2)) + 2
    pixels = np.rint((points - lo) * scale).astype(np.int64) + margin
    shape = tuple(int(v) for v in pixels.max(axis=0) + margin + 1)
    line = np.zeros(shape, dtype=bool)
    line[pixels[:, 0], pixels[:, 1]] = True
    distance = ndimage.distance_transform_edt(~line)
    return np.clip(width / 2 + 0.5 - distance, 0.0, 1.0)


def to_mnist(ink: np.ndarray, name: str) -> np.ndarray:
    """Ink (H, W) in 0..1 through the pre-processing of a drawing: MNIST's (28, 28) uint8."""
    return preprocess_intensities((ink * 255.0).astype(np.float32), name=name)


def draw(
    points: np.ndarray, rng: np.random.Generator, name: str, pen: tuple[float, float] = PEN
) -> np.ndarray:
    """A centre line (M, 2) drawn by `hand` with `pen_ink`, pre-processed as a drawing."""
    return to_mnist(pen_ink(hand(points, rng), rng, pen), name)
