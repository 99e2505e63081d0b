"""Random affine augmentation of whole batches of tensors: rotation, scale and shift.

One `affine_grid` + `grid_sample` call warps a batch (N, 1, H, W) at once, with no
per-image Python. The ranges (±10°, ±10 % scale, ±10 % shift) are the classic ones for
digits: wider rotations start turning 6s into 9s. The generator makes the draws seeded and
resumable (the training engine checkpoints its state).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def affine_matrices(
    angle: torch.Tensor, scale: torch.Tensor, shift_x: torch.Tensor, shift_y: torch.Tensor
) -> torch.Tensor:
    """(N, 2, 3) matrices mapping output to input coordinates in [-1, 1] (`affine_grid`'s convention).

    `angle` is in radians, `scale` > 1 enlarges the digit, shifts are fractions of the image
    side (0.1 moves the digit by 10 % of the width, i.e. 0.2 in [-1, 1] units).
    """
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    # Sampling the input at inverse(rotate * scale) of each output point rotates by `angle`
    # and magnifies by `scale`; the shift is subtracted for the same reason.
    row0 = torch.stack([cos, sin, -2 * shift_x], dim=1)
    row1 = torch.stack([-sin, cos, -2 * shift_y], dim=1)
    return torch.stack([row0, row1], dim=1)


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
    theta = affine_matrices(u[0] * math.radians(degrees), 1 + u[1] * scale, u[2] * shift, u[3] * shift)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
