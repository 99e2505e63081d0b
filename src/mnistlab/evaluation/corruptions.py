"""Deterministic, seeded corruptions of uint8 digits: the robustness benchmark's inputs.

In the spirit of MNIST-C (Mu & Gilmer, 2019) and ImageNet-C (Hendrycks & Dietterich, 2019):
each corruption has five severities, and `SEVERITIES` states each one's parameter and
units. They model how a person's handwriting differs from MNIST's: placement, slant,
size, pen width, shaky strokes, blur, sensor noise, dust, a covered part and faint ink.

Random draws (directions, signs, noise) come from a CPU `torch.Generator` seeded by
(`seed`, corruption), so the same call gives the same bytes on any device and whatever
other corruptions are run; every image gets its own draw, all in batched tensor ops.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from mnistlab import imageops
from mnistlab.data.batches import SEED_STRIDE
from mnistlab.errors import UsageError

DEFAULT_SEVERITY = 3
SEVERITY_RANGE = (1, 5)
DEFAULT_SEED = 0


@dataclass(frozen=True)
class Severity:
    """What one corruption does at severities 1..5: a sentence with a {} for the parameter."""

    template: str
    values: tuple  # indexed by severity - 1

    def describe(self, severity: int) -> str:
        return self.template.format(self.values[severity - 1])


# The single table of what each corruption does. Ranges were set so that severity 3 is a
# plausible "someone else's handwriting" case: e.g. Simard et al. (2003) used alpha = 34 px,
# sigma = 4 px for elastic distortions; MNIST's strokes are about 2-4 px wide. Elements are
# `mnistlab.imageops.ELEMENTS`; "random sign" and "random" draws are per image.
SEVERITIES: dict[str, Severity] = {
    "translate": Severity("shift by {} px along each axis, random signs", (1, 2, 3, 4, 5)),
    "rotate": Severity("rotate by {} degrees, random sign", (10, 15, 20, 25, 30)),
    "scale": Severity("zoom by a factor of {0} or 1/{0}, random", (1.1, 1.2, 1.3, 1.4, 1.5)),
    "shear": Severity("slant by tan(angle) = {}, random sign", (0.15, 0.25, 0.35, 0.45, 0.55)),
    "thin": Severity("grey erosion by a flat {} element", ("1x2", "2x2", "plus3x3", "3x3", "disk5x5")),
    "thick": Severity("grey dilation by a flat {} element", ("2x2", "plus3x3", "3x3", "disk5x5", "5x5")),
    "elastic": Severity("elastic, alpha = {} px, sigma = 4 px (Simard 2003)", (20, 27, 34, 41, 48)),
    "blur": Severity("Gaussian blur, sigma = {} px", (0.5, 0.75, 1.0, 1.25, 1.5)),
    "gaussian_noise": Severity("add noise of std {} x 255", (0.1, 0.2, 0.3, 0.4, 0.5)),
    "impulse_noise": Severity("set a fraction {} of pixels to 0 or 255", (0.03, 0.06, 0.09, 0.12, 0.15)),
    "occlusion": Severity("black {0}x{0} px square in the central 20x20 box", (4, 6, 8, 10, 12)),
    "low_contrast": Severity("scale ink so 255 becomes {}", (128, 96, 64, 48, 32)),
}
CORRUPTIONS: tuple[str, ...] = tuple(SEVERITIES)


def in_benchmark_order(names: list[str] | tuple[str, ...]) -> list[str]:
    """`names` in the order of `CORRUPTIONS` (a JSON file's keys come sorted), unknown names last."""
    return sorted(names, key=lambda n: (*CORRUPTIONS, n).index(n))


def check_corruptions(names: list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """Validated corruption names (all of them for None or empty), in the table's order."""
    if not names:
        return CORRUPTIONS
    unknown = [n for n in names if n not in SEVERITIES]
    if unknown:
        raise UsageError(f"Unknown corruption {unknown[0]!r}; choose from {', '.join(CORRUPTIONS)}.")
    return tuple(n for n in CORRUPTIONS if n in names)


def check_severity(severity: int) -> int:
    lo, hi = SEVERITY_RANGE
    if isinstance(severity, bool) or not isinstance(severity, int) or not lo <= severity <= hi:
        raise UsageError(f"Severity must be an integer from {lo} to {hi}, got {severity!r}.")
    return severity


def _signs(n: int, g: torch.Generator) -> torch.Tensor:
    return torch.randint(0, 2, (n,), generator=g).float() * 2 - 1


def _corrupt_float(x: torch.Tensor, name: str, value, g: torch.Generator) -> torch.Tensor:
    """x: float (N, 1, 28, 28) in [0, 1] on any device; random draws on CPU from `g`."""
    n, dev = x.shape[0], x.device
    if name == "translate":
        dy, dx = (_signs(n, g).long() * value).to(dev), (_signs(n, g).long() * value).to(dev)
        return imageops.shift_integer(x, dy, dx)
    if name in ("rotate", "scale"):
        zero, one = torch.zeros(n), torch.ones(n)
        if name == "rotate":
            theta = imageops.affine_matrices(_signs(n, g) * math.radians(value), one, zero, zero)
        else:
            theta = imageops.affine_matrices(zero, torch.tensor(float(value)) ** _signs(n, g), zero, zero)
        return imageops.warp_affine(x, theta.to(dev))
    if name == "shear":
        return imageops.warp_affine(x, imageops.shear_matrices(_signs(n, g) * value).to(dev))
    if name == "thin":
        return imageops.morphology(x, value, "erode")
    if name == "thick":
        return imageops.morphology(x, value, "dilate")
    if name == "elastic":
        noise = torch.rand(n, 2, *x.shape[-2:], generator=g) * 2 - 1
        return imageops.elastic_warp(
            x, noise.to(dev), torch.full((n,), float(value), device=dev), imageops.ELASTIC_SIGMA
        )
    if name == "blur":
        return imageops.gaussian_blur(x, value)
    if name == "gaussian_noise":
        return x + torch.randn(x.shape, generator=g).to(dev) * value
    if name == "impulse_noise":
        u = torch.rand(x.shape, generator=g).to(dev)
        salt = torch.rand(x.shape, generator=g).to(dev) < 0.5
        return torch.where(u < value, salt.to(x.dtype), x)
    if name == "occlusion":
        # Top-left corner uniform such that the patch lies in the central 20x20 box (4..23).
        lo, hi = 4, 24 - value
        top = torch.randint(lo, hi + 1, (n, 1, 1, 1), generator=g).to(dev)
        left = torch.randint(lo, hi + 1, (n, 1, 1, 1), generator=g).to(dev)
        rows = torch.arange(x.shape[-2], device=dev).view(1, 1, -1, 1)
        cols = torch.arange(x.shape[-1], device=dev).view(1, 1, 1, -1)
        inside = (rows >= top) & (rows < top + value) & (cols >= left) & (cols < left + value)
        return x.masked_fill(inside, 0.0)
    if name == "low_contrast":
        return x * (value / 255.0)
    raise UsageError(f"Unknown corruption {name!r}; choose from {', '.join(CORRUPTIONS)}.")


def corrupt(
    images: torch.Tensor, name: str, severity: int = DEFAULT_SEVERITY, *, seed: int = DEFAULT_SEED
) -> torch.Tensor:
    """Corrupt uint8 images (N, 28, 28) by `name` at `severity`; uint8 (N, 28, 28) out, same device."""
    check_corruptions([name])
    check_severity(severity)
    g = torch.Generator().manual_seed(seed * SEED_STRIDE + CORRUPTIONS.index(name))
    x = images.unsqueeze(1).to(torch.float32) / 255.0
    out = _corrupt_float(x, name, SEVERITIES[name].values[severity - 1], g)
    return (out.squeeze(1) * 255.0).round_().clamp_(0, 255).to(torch.uint8)
