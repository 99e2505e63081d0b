"""What people draw on a pad that is not a digit, as pen polylines: doodles and scribbles.

Each maker takes a numpy Generator and returns the polylines of one drawing, each an array
(K, 2) of (y, x) vertices (y down) in a frame about 2 units across.
`mnistlab.data.pen` samples them densely, moves a hand along them and inks them.

The sub-families are split between training, validation and test (`DOODLES`, `SCRIBBLES`),
so that a reader is chosen and measured on shapes it never saw. A plain circle or ellipse is
left out on purpose: drawn by hand it is a 0. The round shapes kept are clearly something
else (a face, a target, an eye, a flower); spirals have 2.5 turns or more, zigzags six
strokes or more, so that none is a 6, 9, 2 or 7.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import signal

Drawing = list[np.ndarray]
TAU = 2 * np.pi


def _arc(cy: float, cx: float, ry: float, rx: float, t0: float, t1: float) -> np.ndarray:
    """An elliptical arc from angle t0 to t1 (radians, 0 = right, clockwise on screen)."""
    t = np.linspace(t0, t1, max(8, int(abs(t1 - t0) * 24)))
    return np.stack([cy + ry * np.sin(t), cx + rx * np.cos(t)], axis=1)


def _loop(rng: np.random.Generator, cy: float, cx: float, ry: float, rx: float) -> np.ndarray:
    """A closed round shape drawn in one stroke from a random start, overshooting a little."""
    start = rng.uniform(0, TAU)
    return _arc(cy, cx, ry, rx, start, start + TAU + rng.uniform(-0.05, 0.25))


def _dot(y: float, x: float) -> np.ndarray:
    """A dot as a hand makes one: a tiny circle, a little wider than the pen."""
    t = np.linspace(0, TAU, 12)
    return np.stack([y + 0.05 * np.sin(t), x + 0.05 * np.cos(t)], axis=1)


def _rotate(points: np.ndarray, angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return points @ np.array([[c, s], [-s, c]])


# -- training doodles ---------------------------------------------------------------------


def heart(rng: np.random.Generator) -> Drawing:
    t = np.linspace(0, TAU, 160) + rng.uniform(0, TAU)
    x = 16 * np.sin(t) ** 3
    y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    return [np.stack([y, x], axis=1) / 16]


def star(rng: np.random.Generator) -> Drawing:
    if rng.random() < 0.5:  # a pentagram in one stroke
        angles = -np.pi / 2 + np.arange(6) * 4 * np.pi / 5
        radii = np.ones(6)
    else:  # the outline of a five-pointed star
        angles = -np.pi / 2 + np.arange(11) * np.pi / 5
        radii = np.where(np.arange(11) % 2 == 0, 1.0, rng.uniform(0.35, 0.5))
    return [np.stack([radii * np.sin(angles), radii * np.cos(angles)], axis=1)]


def house(rng: np.random.Generator) -> Drawing:
    w, roof = rng.uniform(0.7, 1.0), rng.uniform(0.5, 0.9)
    body = np.array([[-0.2, -w], [1, -w], [1, w], [-0.2, w], [-0.2, -w]])
    top = np.array([[-0.2, -w - 0.1], [-0.2 - roof, 0], [-0.2, w + 0.1]])
    lines = [body, top]
    if rng.random() < 0.6:  # a door
        d = rng.uniform(0.15, 0.3)
        lines.append(np.array([[1, -d], [0.45, -d], [0.45, d], [1, d]]))
    return lines


def smiley(rng: np.random.Generator) -> Drawing:
    eye, mouth = rng.uniform(0.3, 0.4), rng.uniform(0.45, 0.65)
    eyes = [_dot(-0.3, -eye), _dot(-0.3, eye)]
    if rng.random() < 0.5:  # eyes as short strokes
        eyes = [np.array([[-0.45, -eye], [-0.2, -eye]]), np.array([[-0.45, eye], [-0.2, eye]])]
    smile = _arc(0.05, 0, mouth, mouth, np.radians(20), np.radians(160))
    return [_loop(rng, 0, 0, 1, 1), *eyes, smile]


def spiral(rng: np.random.Generator) -> Drawing:
    turns = rng.uniform(2.5, 4.0)
    t = np.linspace(0, turns * TAU, int(turns * 80))
    r = t / t[-1]
    sign = rng.choice([-1.0, 1.0])
    return [np.stack([r * np.sin(sign * t), r * np.cos(sign * t)], axis=1)]


def cloud(rng: np.random.Generator) -> Drawing:
    bumps = int(rng.integers(5, 9))
    t = np.linspace(0, TAU, 240)
    r = 0.8 + 0.2 * np.abs(np.sin(bumps * t / 2))  # round bumps outward, cusps inward
    return [np.stack([0.65 * r * np.sin(t), 1.0 * r * np.cos(t)], axis=1)]


def zigzag(rng: np.random.Generator) -> Drawing:
    strokes = int(rng.integers(6, 11))
    x = np.linspace(-1, 1, strokes + 1)
    y = np.where(np.arange(strokes + 1) % 2 == 0, -1, 1) * rng.uniform(0.25, 0.6)
    return [np.stack([y + rng.normal(0, 0.05, strokes + 1), x], axis=1)]


# -- validation doodles -------------------------------------------------------------------


def arrow(rng: np.random.Generator) -> Drawing:
    head, spread = rng.uniform(0.3, 0.5), np.radians(rng.uniform(25, 40))
    shaft = np.array([[0.0, -1.0], [0.0, 1.0]])
    tip = np.array([[-head * np.sin(spread), 1 - head * np.cos(spread)], [0, 1]])
    tip = np.vstack([tip, tip[0] * [-1, 1]])
    # Pointing right or left, up to 45° off the horizontal: an upright arrow is a 1 with a hat.
    angle = rng.uniform(-np.pi / 4, np.pi / 4) + rng.choice([0.0, np.pi])
    return [_rotate(shaft, angle), _rotate(tip, angle)]


def lightning(rng: np.random.Generator) -> Drawing:
    """The outline of a bolt: its one-stroke form is a Z, which is a 2."""
    bolt = np.array([[-1, 0.1], [-1, 0.6], [-0.15, 0.15], [-0.15, 0.55], [1, -0.45], [0.1, 0.0], [0.1, -0.4]])
    bolt = bolt + rng.normal(0, 0.04, bolt.shape)
    return [np.vstack([bolt, bolt[:1]])]


def flower(rng: np.random.Generator) -> Drawing:
    petals = int(rng.integers(5, 8))
    turn = rng.uniform(0, TAU)
    lines = [_loop(rng, 0, 0, 0.3, 0.3)]
    for k in range(petals):  # each petal a loop out from the middle and back
        angle = turn + k * TAU / petals
        half = np.pi / petals * 0.8
        t = np.linspace(-half, half, 30)
        r = 0.3 + 0.7 * np.cos(t * np.pi / (2 * half))
        lines.append(np.stack([r * np.sin(t + angle), r * np.cos(t + angle)], axis=1))
    return lines


def sun(rng: np.random.Generator) -> Drawing:
    rays = int(rng.integers(7, 13))
    angles = np.arange(rays) * TAU / rays + rng.uniform(0, TAU)
    inner, outer = 0.6, rng.uniform(0.9, 1.1)
    strokes = [
        np.array([[inner * np.sin(a), inner * np.cos(a)], [outer * np.sin(a), outer * np.cos(a)]])
        for a in angles
    ]
    return [_loop(rng, 0, 0, 0.45, 0.45), *strokes]


def triangle(rng: np.random.Generator) -> Drawing:
    angles = -np.pi / 2 + np.arange(3) * TAU / 3 + rng.uniform(-0.25, 0.25, 3) + rng.uniform(0, TAU)
    corners = np.stack([np.sin(angles), np.cos(angles)], axis=1)
    return [np.vstack([corners, corners[:1]])]


def tick(rng: np.random.Generator) -> Drawing:
    low = rng.uniform(-0.5, -0.1)
    return [np.array([[0.0, -1.0], [0.8, low], [-1.0, 1.0]])]


# -- test doodles -------------------------------------------------------------------------


def fish(rng: np.random.Generator) -> Drawing:
    body = rng.uniform(0.4, 0.6)
    x = np.linspace(-1, 1, 80)
    top = -body * np.sin(np.pi * (x + 1) / 1.6)  # the body's two curves cross at x = 0.6
    tail = np.array([[top[-1], 1.0], [-top[-1], 1.0]])
    return [np.stack([top, x], 1), np.stack([-top, x], 1), tail, _dot(-0.15, -0.55)]


def envelope(rng: np.random.Generator) -> Drawing:
    w, flap = rng.uniform(1.3, 1.7), rng.uniform(0.1, 0.4)
    box = np.array([[-1, -w], [1, -w], [1, w], [-1, w], [-1, -w]])
    return [box, np.array([[-1, -w], [flap, 0], [-1, w]])]


def tree(rng: np.random.Generator) -> Drawing:
    tiers = int(rng.integers(2, 4))
    lines = []
    for k in range(tiers):
        top, bottom = -1 + k * 0.45, -0.3 + k * 0.45
        half = 0.45 + 0.2 * k
        lines.append(np.array([[bottom, -half], [top, 0], [bottom, half], [bottom, -half]]))
    base = -0.3 + (tiers - 1) * 0.45
    lines.append(np.array([[base, -0.15], [base + 0.4, -0.15], [base + 0.4, 0.15], [base, 0.15]]))
    return lines


def wave(rng: np.random.Generator) -> Drawing:
    periods = rng.uniform(2.0, 3.5)
    x = np.linspace(-1, 1, 200)
    y = 0.25 * np.sin(periods * np.pi * x + rng.uniform(0, TAU))
    lines = [np.stack([y, x], 1)]
    if rng.random() < 0.5:  # water: a second wave below
        lines.append(np.stack([y + 0.45, x], 1))
    return lines


def target(rng: np.random.Generator) -> Drawing:
    rings = [_loop(rng, 0, 0, 1, 1), _loop(rng, 0, 0, 0.55, 0.55)]
    return [*rings, _dot(0, 0)] if rng.random() < 0.5 else [rings[0], _dot(0, 0)]


def eye(rng: np.random.Generator) -> Drawing:
    open_ = rng.uniform(0.45, 0.65)
    x = np.linspace(-1, 1, 80)
    lid = open_ * (1 - x**2)
    iris = rng.uniform(0.25, 0.35)
    return [np.stack([-lid, x], 1), np.stack([lid, x], 1), _loop(rng, 0, 0, iris, iris), _dot(0, 0)]


# -- scribbles ----------------------------------------------------------------------------


def tangle(rng: np.random.Generator) -> Drawing:
    """A pen that never lifts, turning smoothly at random, bouncing off the pad's edges."""
    steps = int(rng.integers(200, 350))
    # Curvature with memory (AR(1), 0.9 per step), so the pen sweeps rather than jitters.
    curvature = signal.lfilter([1.0], [1.0, -0.9], rng.normal(0, 0.18, steps))
    heading = rng.uniform(0, TAU) + np.cumsum(curvature)
    path = np.cumsum(0.03 * np.stack([np.sin(heading), np.cos(heading)], 1), axis=0)
    return [np.abs((path + 1) % 4 - 2) - 1]  # folded back into [-1, 1] at each edge


def hatch(rng: np.random.Generator) -> Drawing:
    """Shading: back and forth across the pad, moving along as it goes."""
    strokes = int(rng.integers(7, 12))
    along = np.linspace(-1, 1, strokes + 1) + rng.normal(0, 0.03, strokes + 1)
    across = np.where(np.arange(strokes + 1) % 2 == 0, -1, 1) * rng.uniform(0.6, 1.0, strokes + 1)
    return [_rotate(np.stack([across, along], 1), rng.uniform(-np.pi / 3, np.pi / 3))]


def loops(rng: np.random.Generator) -> Drawing:
    """Rows of cursive loops, like a hurried eeee or llll written two or three times."""
    lines = []
    for row in range(int(rng.integers(2, 4))):
        count = rng.uniform(2.5, 4)
        t = np.linspace(0, count * TAU, int(count * 60)) + np.pi
        x = 0.2 * t - rng.uniform(0.3, 0.5) * np.sin(t)  # a prolate cycloid: a loop per turn
        y = 1.5 * row - rng.uniform(0.5, 0.8) * np.cos(t) + np.cumsum(rng.normal(0, 0.01, t.size))
        lines.append(np.stack([y, x + rng.normal(0, 0.2)], 1))
    return lines


def curves(rng: np.random.Generator) -> Drawing:
    """A smooth curve through 10-15 random points of the pad (Catmull-Rom), never lifted."""
    knots = rng.uniform(-1, 1, (int(rng.integers(10, 16)), 2))
    p = np.vstack([knots[:1], knots, knots[-1:]])
    t = np.linspace(0, 1, 24)[:, None]
    pieces = []
    for k in range(1, len(p) - 2):  # one cubic per span between knots
        a, b, c, d = p[k - 1], p[k], p[k + 1], p[k + 2]
        pieces.append(
            0.5 * (2 * b + (c - a) * t + (2 * a - 5 * b + 4 * c - d) * t**2 + (3 * b - a - 3 * c + d) * t**3)
        )
    return [np.vstack(pieces)]


Maker = Callable[[np.random.Generator], Drawing]
# Which sub-families each split draws from: disjoint, so validation and test are unseen shapes.
DOODLES: dict[str, dict[str, Maker]] = {
    "train": {f.__name__: f for f in (heart, star, house, smiley, spiral, cloud, zigzag)},
    "val": {f.__name__: f for f in (arrow, lightning, flower, sun, triangle, tick)},
    "test": {f.__name__: f for f in (fish, envelope, tree, wave, target, eye)},
}
SCRIBBLES: dict[str, dict[str, Maker]] = {
    "train": {"tangle": tangle, "hatch": hatch},
    "val": {"loops": loops},
    "test": {"curves": curves},
}
