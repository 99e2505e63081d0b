"""Images that are not digits, made here and seeded: the inputs a reader must refuse.

Each maker returns uint8 (N, 28, 28) light-on-dark images, laid out as MNIST's digits are
(ink in a 20 px box, centre of mass at the centre), so that they are what a model sees after
`mnistlab predict`'s pre-processing, not something pre-processing would already tell apart:

- `uniform_noise`: every pixel uniform in 0..255.
- `blurred_noise`: uniform noise blurred by a Gaussian of 1-2.5 px, stretched to 0..255 (blobs).
- `random_strokes`: 3-6 random pen strokes (straight segments), 1.5-3 px wide, as a scribble.
- `letters`: capital letters of Pillow's built-in font, slanted, scaled and thickened at random;
  the letters a digit is written like (O, I, S, Z, B, G) are left out.
- `near_blank`: a speck, as pre-processing scales it up: one small blob filling the box.

The seed decides everything, so the outliers a model is trained with (`TRAIN_SEED`) and those
it is chosen or evaluated on (`VALIDATION_SEED`, `TEST_SEED`) are different images; letters and
near-blank images are never used for training at all.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from mnistlab.data.splits import SIDE, Dataset, load_dataset
from mnistlab.errors import DataError
from mnistlab.imageops import gaussian_blur, shift_integer, warp_affine

TRAIN_SEED, VALIDATION_SEED, TEST_SEED = 11, 12, 13
# The other built-in dataset, by the kind of images a run reads: its images are not of the
# run's classes, so they are outliers too (Fashion-MNIST for digits, MNIST for clothing).
OTHER_DATASET = {"digits": "fashion-mnist", "objects": "mnist"}
BOX = 20  # px: the longer side of a digit's ink in MNIST
# Capital letters no one writes differently from a digit: O/0, I/1, S/5, Z/2, B/8, G/6.
DIGIT_LIKE_LETTERS = "OISZBG"
LETTERS = "".join(c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in DIGIT_LIKE_LETTERS)


def other_dataset_name(data: Dataset) -> str:
    """The built-in dataset whose images are outliers for a run on `data`."""
    return OTHER_DATASET[data.source.spec.image_kind if data.source else "digits"]


def other_dataset(data: Dataset, data_dir: str | None) -> Dataset | None:
    """The other built-in dataset, an outlier set of `data`'s runs, or None when not on this machine."""
    try:
        return load_dataset(other_dataset_name(data), data_dir, download=False)
    except DataError:
        return None  # not on this machine: the made outlier sets still run


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _to_uint8(ink: torch.Tensor) -> torch.Tensor:
    """Float ink (N, H, W) scaled so each image's strongest pixel is 255, as in MNIST."""
    peak = ink.flatten(1).amax(dim=1).clamp_min(1e-6).view(-1, 1, 1)
    return (ink / peak * 255.0).round().clamp(0, 255).to(torch.uint8)


def centre_of_mass(images: torch.Tensor) -> torch.Tensor:
    """Each image's ink, moved by whole pixels so its centre of mass is nearest (14, 14)."""
    ink = images.float()  # (N, H, W)
    mass = ink.sum(dim=(1, 2)).clamp_min(1e-6)
    grid = torch.arange(SIDE, dtype=torch.float32)
    cy = (ink.sum(dim=2) @ grid) / mass
    cx = (ink.sum(dim=1) @ grid) / mass
    dy, dx = (14.0 - cy).round().long(), (14.0 - cx).round().long()
    return shift_integer(images.unsqueeze(1), dy, dx).squeeze(1)


def uniform_noise(n: int, seed: int) -> torch.Tensor:
    return torch.randint(0, 256, (n, SIDE, SIDE), generator=_generator(seed), dtype=torch.uint8)


def blurred_noise(n: int, seed: int) -> torch.Tensor:
    g = _generator(seed)
    noise = torch.rand(n, 1, SIDE, SIDE, generator=g)
    sigmas = 1.0 + 1.5 * torch.rand(n, generator=g)
    blurred = torch.cat([gaussian_blur(noise[i : i + 1], float(s)) for i, s in enumerate(sigmas)])
    low = blurred.flatten(1).amin(dim=1).view(-1, 1, 1, 1)
    return _to_uint8((blurred - low).squeeze(1))


def _segments_ink(starts: torch.Tensor, ends: torch.Tensor, width: torch.Tensor) -> torch.Tensor:
    """Anti-aliased ink of line segments (N, K, 2) -> (N, 28, 28): each pixel's nearest segment."""
    ys, xs = torch.meshgrid(
        torch.arange(SIDE, dtype=torch.float32), torch.arange(SIDE, dtype=torch.float32), indexing="ij"
    )
    p = torch.stack([ys, xs], dim=-1).view(1, 1, SIDE * SIDE, 2)  # (1, 1, P, 2) as (y, x)
    a, b = starts.unsqueeze(2), ends.unsqueeze(2)  # (N, K, 1, 2)
    ab = b - a
    t = (((p - a) * ab).sum(-1) / (ab * ab).sum(-1).clamp_min(1e-6)).clamp(0, 1)  # (N, K, P)
    distance = (p - (a + t.unsqueeze(-1) * ab)).norm(dim=-1).amin(dim=1)  # (N, P)
    ink = (width.view(-1, 1) / 2 + 0.5 - distance).clamp(0, 1)  # a pen of `width` px, 1 px edge
    return ink.view(-1, SIDE, SIDE)


def random_strokes(n: int, seed: int) -> torch.Tensor:
    """A scribble: a chain of 3-6 straight strokes inside the 20 px box, then centred."""
    g = _generator(seed)
    strokes = 6
    points = 4 + BOX * torch.rand(n, strokes + 1, 2, generator=g)  # (N, 7, 2) in the box
    used = torch.randint(3, strokes + 1, (n,), generator=g)
    # Unused strokes collapse onto the last used point: zero length, no extra ink.
    keep = torch.arange(strokes + 1).view(1, -1) <= used.view(-1, 1)
    last = points[torch.arange(n), used].unsqueeze(1)
    points = torch.where(keep.unsqueeze(-1), points, last)
    width = 1.5 + 1.5 * torch.rand(n, generator=g)
    ink = _segments_ink(points[:, :-1], points[:, 1:], width)
    return centre_of_mass(_to_uint8(ink))


def _glyphs() -> torch.Tensor:
    """Each of LETTERS in Pillow's built-in font, its ink scaled to the 20 px box: (L, 28, 28)."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=64)
    glyphs = []
    for letter in LETTERS:
        canvas = Image.new("L", (96, 96), 0)
        ImageDraw.Draw(canvas).text((48, 48), letter, fill=255, font=font, anchor="mm")
        crop = canvas.crop(canvas.getbbox())
        scale = BOX / max(crop.size)
        crop = crop.resize(
            (max(1, round(crop.width * scale)), max(1, round(crop.height * scale))), Image.LANCZOS
        )
        field = Image.new("L", (SIDE, SIDE), 0)
        field.paste(crop, ((SIDE - crop.width) // 2, (SIDE - crop.height) // 2))
        glyphs.append(torch.from_numpy(np.asarray(field, dtype=np.float32)))
    return torch.stack(glyphs) / 255.0


def letters(n: int, seed: int) -> torch.Tensor:
    """Random capital letters, each slanted (up to 0.3), rotated (±15°), scaled (0.8-1.1) and thickened."""
    g = _generator(seed)
    glyphs = _glyphs()
    x = glyphs[torch.randint(0, len(LETTERS), (n,), generator=g)].unsqueeze(1)  # (N, 1, 28, 28)
    angle = math.radians(15) * (2 * torch.rand(n, generator=g) - 1)
    shear = 0.3 * (2 * torch.rand(n, generator=g) - 1)
    scale = 0.8 + 0.3 * torch.rand(n, generator=g)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos, -sin + shear, torch.zeros(n)], 1), torch.stack([sin, cos, torch.zeros(n)], 1)], 1
    )  # (N, 2, 3) output-to-input
    x = warp_affine(x, theta)
    thick = torch.rand(n, generator=g) < 0.5
    pooled = torch.nn.functional.max_pool2d(x, 3, stride=1, padding=1)
    x = torch.where(thick.view(-1, 1, 1, 1), pooled, x)
    return centre_of_mass(_to_uint8(x.squeeze(1)))


def near_blank(n: int, seed: int) -> torch.Tensor:
    """A speck scaled up to the box by pre-processing: one soft elliptical blob, centred."""
    g = _generator(seed)
    ys, xs = torch.meshgrid(
        torch.arange(SIDE, dtype=torch.float32), torch.arange(SIDE, dtype=torch.float32), indexing="ij"
    )
    ry = (3.0 + 7.0 * torch.rand(n, generator=g)).view(-1, 1, 1)
    rx = (3.0 + 7.0 * torch.rand(n, generator=g)).view(-1, 1, 1)
    r = (((ys - 13.5) / ry) ** 2 + ((xs - 13.5) / rx) ** 2).sqrt()
    return centre_of_mass(_to_uint8((1.5 - r).clamp(0, 1)))


MAKERS = {
    "uniform_noise": uniform_noise,
    "blurred_noise": blurred_noise,
    "random_strokes": random_strokes,
    "letters": letters,
    "near_blank": near_blank,
}
# What outlier exposure may train on; letters and near-blank images stay unseen.
TRAINABLE = ("uniform_noise", "blurred_noise", "random_strokes")


def make(name: str, n: int, seed: int) -> torch.Tensor:
    """`n` images of the outlier set `name`, made from `seed`."""
    return MAKERS[name](n, seed)
