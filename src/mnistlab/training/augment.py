"""Random augmentation of whole batches of tensors: affine maps (rotation, scale and
shift), slant, elastic distortion and pen width, selected by name (`augment_batch`).

One `affine_grid` + `grid_sample` call warps a batch (N, 1, H, W) at once, with no
per-image Python. The ranges (±10°, ±10 % scale, ±10 % shift) are the classic ones for
digits: wider rotations start turning 6s into 9s. The generator makes the draws seeded and
resumable (the training engine checkpoints its state).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from mnistlab import imageops


def random_affine(
    images: torch.Tensor,
    generator: torch.Generator,
    *,
    degrees: float = 10.0,
    scale: float = 0.1,
    shift: float = 0.1,
) -> torch.Tensor:
    """Warp each image of a float batch (N, C, H, W) by its own random affine map.

    Angles are uniform in ±`degrees`, scales in 1 ± `scale`, shifts in ±`shift` of the
    side; pixels from outside the image are zero (background), interpolation is bilinear.
    """
    n = images.shape[0]
    u = torch.rand(4, n, generator=generator, device=images.device, dtype=images.dtype) * 2 - 1
    theta = imageops.affine_matrices(
        u[0] * math.radians(degrees), 1 + u[1] * scale, u[2] * shift, u[3] * shift
    )
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


# -- augmentations for real handwriting, selected by name ---------------------------------

# Each augmentation below changes a random half of a batch (`P_APPLY`) and leaves the rest
# as they are: a small CNN trained a few epochs on fully distorted batches lost ~1.3 points
# of clean validation accuracy (see the robust recipe in config.py).
P_APPLY = 0.5
# Slant range (tan of the angle): people's writing leans up to ~20 degrees either way.
SLANT = 0.35
# Elastic distortions as Simard et al. (2003): sigma ELASTIC_SIGMA (4 px); alpha uniform in [0, 34] px.
ELASTIC_ALPHA = 34.0
# Pen width: one of these (op, element) pairs, uniformly: strokes ~2 px thinner or thicker.
THICKNESS = (("erode", "plus3x3"), ("dilate", "plus3x3"))
# Faint ink (pencil, a grey photo): ink scaled by U[0.1, 1].
CONTRAST_LOW = 0.1
# Cutout side in px: a covered or missing part of a stroke.
ERASE_SIDE = 8
# Low resolution (a small scan, a thumbnail, an 8x8 sensor like the UCI digits' upscaled): the
# 28x28 image averaged down to one of these sides, then bilinearly up again.
LOW_SIDES = (7, 9, 11, 14)
# Sensor noise: Gaussian of std U[0, 0.3] (of full ink), clipped to [0, 1].
NOISE_STD = 0.3


def _some(images: torch.Tensor, changed: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """`changed` for a random fraction P_APPLY of the images, `images` for the others."""
    n = images.shape[0]
    use = torch.rand(n, generator=generator, device=images.device) < P_APPLY
    return torch.where(use.view(n, 1, 1, 1), changed, images)


def random_slant(images: torch.Tensor, generator: torch.Generator, *, slant: float = SLANT) -> torch.Tensor:
    """Shear images horizontally by a slant uniform in ±`slant` (tan of the angle)."""
    u = torch.rand(images.shape[0], generator=generator, device=images.device, dtype=images.dtype)
    slanted = imageops.warp_affine(images, imageops.shear_matrices((u * 2 - 1) * slant))
    return _some(images, slanted, generator)


def random_elastic(
    images: torch.Tensor,
    generator: torch.Generator,
    *,
    alpha: float = ELASTIC_ALPHA,
    sigma: float = imageops.ELASTIC_SIGMA,
) -> torch.Tensor:
    """Simard et al. (2003) elastic distortion with alpha uniform in [0, `alpha`] px."""
    n, _, h, w = images.shape
    kw = {"generator": generator, "device": images.device, "dtype": images.dtype}
    noise = torch.rand(n, 2, h, w, **kw) * 2 - 1
    warped = imageops.elastic_warp(images, noise, torch.rand(n, **kw) * alpha, sigma)
    return _some(images, warped, generator)


def _one_of(
    images: torch.Tensor, variants: list[Callable[[torch.Tensor], torch.Tensor]], generator: torch.Generator
) -> torch.Tensor:
    """Each image changed by one of `variants` (whole-batch maps), chosen uniformly per image,
    for a random fraction P_APPLY of the images (`_some`)."""
    n = images.shape[0]
    choice = torch.randint(0, len(variants), (n,), generator=generator, device=images.device)
    out = images
    for k, variant in enumerate(variants):
        out = torch.where((choice == k).view(n, 1, 1, 1), variant(images), out)
    return _some(images, out, generator)


def random_thickness(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Erode or dilate images by one of `THICKNESS`, chosen uniformly per image."""
    ops = [lambda x, op=op, element=element: imageops.morphology(x, element, op) for op, element in THICKNESS]
    return _one_of(images, ops, generator)


def random_lowres(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Average images down to one of `LOW_SIDES` (chosen uniformly per image) and back up."""
    size = images.shape[-2:]

    def round_trip(x: torch.Tensor, side: int) -> torch.Tensor:
        return F.interpolate(F.adaptive_avg_pool2d(x, side), size=size, mode="bilinear", align_corners=False)

    return _one_of(images, [lambda x, s=s: round_trip(x, s) for s in LOW_SIDES], generator)


def random_contrast(
    images: torch.Tensor, generator: torch.Generator, *, low: float = CONTRAST_LOW
) -> torch.Tensor:
    """Scale the ink of images by a factor uniform in [`low`, 1]."""
    n = images.shape[0]
    u = torch.rand(n, generator=generator, device=images.device, dtype=images.dtype)
    return _some(images, images * (low + (1 - low) * u).view(n, 1, 1, 1), generator)


def random_erase(images: torch.Tensor, generator: torch.Generator, *, side: int = ERASE_SIDE) -> torch.Tensor:
    """Blank a `side` x `side` square at a random place inside the central 20x20 box
    (cutout, DeVries & Taylor 2017)."""
    n, _, h, w = images.shape
    kw = {"generator": generator, "device": images.device}
    top = torch.randint(4, 25 - side, (n,), **kw).view(n, 1, 1, 1)
    left = torch.randint(4, 25 - side, (n,), **kw).view(n, 1, 1, 1)
    rows = torch.arange(h, device=images.device).view(1, 1, h, 1)
    cols = torch.arange(w, device=images.device).view(1, 1, 1, w)
    inside = (rows >= top) & (rows < top + side) & (cols >= left) & (cols < left + side)
    return _some(images, images.masked_fill(inside, 0.0), generator)


def random_noise(images: torch.Tensor, generator: torch.Generator, *, std: float = NOISE_STD) -> torch.Tensor:
    """Add Gaussian noise of a standard deviation uniform in [0, `std`], clipped to [0, 1]."""
    n = images.shape[0]
    kw = {"generator": generator, "device": images.device, "dtype": images.dtype}
    sigma = torch.rand(n, **kw).view(n, 1, 1, 1) * std
    noisy = (images + torch.randn(images.shape, **kw) * sigma).clamp_(0.0, 1.0)
    return _some(images, noisy, generator)


# -- augmentations for photographed objects (Fashion-MNIST) -------------------------------

# Shift range in whole pixels: the standard "pad 2, random 28x28 crop" of small-image
# classifiers, without the blur of bilinear resampling.
SHIFT_PX = 2


def random_flip(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Mirror a random half of the images left to right: a shoe or a shirt seen from its
    other side is the same class (a digit is not, so digit recipes leave this out)."""
    return _some(images, images.flip(-1), generator)


def random_shift(images: torch.Tensor, generator: torch.Generator, *, px: int = SHIFT_PX) -> torch.Tensor:
    """Translate each image by whole pixels, uniform in ±`px` on each axis, zero-filled."""
    n, _, h, w = images.shape
    padded = F.pad(images, (px, px, px, px))
    kw = {"generator": generator, "device": images.device}
    dy = torch.randint(0, 2 * px + 1, (n, 1, 1), **kw)
    dx = torch.randint(0, 2 * px + 1, (n, 1, 1), **kw)
    rows = torch.arange(h, device=images.device).view(1, h, 1) + dy  # (N, H, 1) into padded
    cols = torch.arange(w, device=images.device).view(1, 1, w) + dx  # (N, 1, W) into padded
    batch = torch.arange(n, device=images.device).view(n, 1, 1)
    return padded[batch, :, rows, cols].permute(0, 3, 1, 2)  # (N, H, W, C) -> (N, C, H, W)


# Applied in this order: pen width first (on clean strokes), then the shape distortions.
# Keyed by the names `mnistlab.config.AUGMENTATIONS` lets a config use, in that order (tested).
AUGMENTATIONS: dict[str, Callable[[torch.Tensor, torch.Generator], torch.Tensor]] = {
    "flip": random_flip,
    "shift": random_shift,
    "thickness": random_thickness,
    "elastic": random_elastic,
    "slant": random_slant,
    "affine": random_affine,
    "lowres": random_lowres,
    "erase": random_erase,
    "contrast": random_contrast,
    "noise": random_noise,
}


def augment_batch(images: torch.Tensor, names: Sequence[str], generator: torch.Generator) -> torch.Tensor:
    """Apply the named augmentations to a float batch (N, 1, H, W), in `AUGMENTATIONS` order.

    `("affine",)` is exactly `random_affine(images, generator)`, the `best` recipe's. All
    draws come from `generator`, so a resumed run that restores its state repeats them.
    """
    for name, fn in AUGMENTATIONS.items():
        if name in names:
            images = fn(images, generator)
    return images
