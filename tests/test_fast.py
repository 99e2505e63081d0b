"""The fast/best CNNs and batch augmentation: shapes, parameter counts, geometry, resume."""

from __future__ import annotations

import dataclasses
import itertools
import math
from pathlib import Path

import pytest
import torch

from mnistlab.config import TrainConfig, resolve_config
from mnistlab.data import Dataset, Split
from mnistlab.imageops import affine_matrices
from mnistlab.models import create_model, list_models
from mnistlab.training.augment import random_affine
from mnistlab.training.loop import train


def test_fast_models_are_registered_with_the_recipes() -> None:
    assert {"cnn_bn", "cnn_bn_deep"} <= set(list_models())
    assert resolve_config("cnn", "fast").model == "cnn_bn"
    best = resolve_config("cnn", "best")
    assert best.model == "cnn_bn_deep" and best.augmentations == ("affine",)


def test_fast_cnn_parameter_count_matches_its_layers() -> None:
    model = create_model("cnn_bn", widths=(16, 32, 64))
    # conv weights (no bias) + batch-norm scale and shift, then a linear head on 64 x 3 x 3.
    expected = (1 * 16 * 9 + 2 * 16) + (16 * 32 * 9 + 2 * 32) + (32 * 64 * 9 + 2 * 64) + (64 * 9 * 10 + 10)
    assert sum(p.numel() for p in model.parameters()) == expected == 29_178
    best = create_model("cnn_bn_deep", widths=(8, 8, 8))
    per_block = 2 * (8 * 8 * 9 + 2 * 8)  # blocks 2 and 3 hold two 8->8 convs, block 1 one 1->8
    expected_best = (1 * 8 * 9 + 2 * 8) + 2 * per_block + (8 * 9 * 10 + 10)
    assert sum(p.numel() for p in best.parameters()) == expected_best == 3_186


def _dot(y: int, x: int) -> torch.Tensor:
    image = torch.zeros(1, 1, 28, 28)
    image[0, 0, y, x] = 1.0
    return image


def _centre_of_mass(image: torch.Tensor) -> tuple[float, float]:
    weights = image[0, 0]
    ys, xs = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    total = weights.sum()
    return float((ys * weights).sum() / total), float((xs * weights).sum() / total)


def _warp(image: torch.Tensor, angle: float = 0.0, scale: float = 1.0, dx: float = 0.0, dy: float = 0.0):
    theta = affine_matrices(*(torch.tensor([v]) for v in (angle, scale, dx, dy)))
    grid = torch.nn.functional.affine_grid(theta, list(image.shape), align_corners=False)
    return torch.nn.functional.grid_sample(image, grid, align_corners=False)


def test_identity_warp_returns_the_image() -> None:
    image = torch.rand(3, 1, 28, 28)
    out = random_affine(image, torch.Generator().manual_seed(0), degrees=0, scale=0, shift=0)
    assert torch.allclose(out, image, atol=1e-5)


def test_shift_moves_pixels_by_that_fraction_of_the_side() -> None:
    # +1/7 of 28 px = 4 px right, -1/14 = 2 px up.
    moved = _warp(_dot(10, 10), dx=1 / 7, dy=-1 / 14)
    assert _centre_of_mass(moved) == pytest.approx((8.0, 14.0), abs=1e-4)


def test_rotation_and_scale_about_the_centre() -> None:
    centre = 13.5  # pixel centres run 0..27
    # 90 degrees takes a dot right of the centre to below it (y grows downwards).
    turned = _warp(_dot(14, 20), angle=math.pi / 2)
    assert torch.allclose(turned, torch.rot90(_dot(14, 20), k=-1, dims=(2, 3)), atol=1e-5)
    y, x = _centre_of_mass(_warp(_dot(14, 20), scale=1.5))
    assert (y - centre, x - centre) == pytest.approx((0.5 * 1.5, 6.5 * 1.5), abs=0.05)


def test_random_affine_is_seeded_and_differs_per_image() -> None:
    images = _dot(10, 12).repeat(4, 1, 1, 1)
    a = random_affine(images, torch.Generator().manual_seed(1))
    b = random_affine(images, torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    assert not torch.allclose(a[0], a[1])
    # +-10 % shift and scale, +-10 degrees: the dot stays within ~4.5 px of where it was.
    for image in a:
        y, x = _centre_of_mass(image[None])
        assert abs(y - 10) < 4.5 and abs(x - 12) < 4.5


def test_fast_recipe_learns_in_a_few_steps(mnist: Dataset) -> None:
    config = resolve_config("cnn", "fast", overrides={"steps": 40, "eval_every": 40, "seed": 0})
    small_test = Split(mnist.test.images[:500], mnist.test.labels[:500])  # the val check is the point
    result = train(config, dataclasses.replace(mnist, test=small_test))
    assert result.val_accuracy is not None and result.val_accuracy > 0.85


def _tiny_augmented(steps: int) -> TrainConfig:
    return TrainConfig(
        model="cnn_bn_deep",
        model_options={"widths": [4, 8, 8]},
        steps=steps,
        batch_size=32,
        optimizer="nesterov",
        lr=0.05,
        momentum=0.9,
        schedule="onecycle",
        augmentations=("affine",),
        eval_every=3,
        log_every=3,
    )


def test_augmented_batchnorm_run_resumes_bit_identically(mnist: Dataset, tmp_path: Path) -> None:
    small = dataclasses.replace(mnist, val=Split(mnist.val.images[:64], mnist.val.labels[:64]))
    small = dataclasses.replace(small, test=small.val)
    full = train(_tiny_augmented(6), small, run_dir=tmp_path / "full")
    calls = itertools.count()
    first = train(_tiny_augmented(6), small, run_dir=tmp_path / "cut", should_stop=lambda: next(calls) >= 3)
    assert first.interrupted and first.step == 3
    resumed = train(_tiny_augmented(6), small, run_dir=tmp_path / "cut", resume=True)
    for (name, a), b in zip(
        full.model.state_dict().items(), resumed.model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name


def test_old_model_names_build_load_and_resume_as_the_registered_models(
    mnist: Dataset, tmp_path: Path
) -> None:
    import json

    from mnistlab.models.registry import register_model
    from mnistlab.recipes import OLD_MODEL_NAMES as OLD_NAMES
    from mnistlab.recipes import task_of
    from mnistlab.runs.checkpoint import read_run_config

    assert OLD_NAMES == {
        "cnn_fast": "cnn_bn",
        "cnn_best": "cnn_bn_deep",
        "cnn_robust": "cnn_bn_ink",
        "cnn_sprint": "cnn_unpadded",
    }
    assert not set(OLD_NAMES) & set(list_models()) and set(OLD_NAMES.values()) <= set(list_models())
    for old, new in OLD_NAMES.items():
        torch.manual_seed(0)
        built = create_model(old).state_dict()
        torch.manual_seed(0)
        registered = create_model(new).state_dict()
        assert list(built) == list(registered)  # the same layers, initialised the same
        assert all(torch.equal(built[k], registered[k]) for k in built)
        with pytest.raises(ValueError, match=f"model {old!r} is registered twice"):
            register_model(old)(lambda: None)
    assert task_of("cnn_fast", "fast") == task_of("cnn_bn", "fast") == "cnn"
    assert task_of("cnn_best", "best") == "cnn" and task_of("cnn_sprint", "sprint") == "cnn"

    # A run folder written while the model was called `cnn_best`, interrupted, then resumed.
    small = dataclasses.replace(mnist, val=Split(mnist.val.images[:64], mnist.val.labels[:64]))
    small = dataclasses.replace(small, test=small.val)
    full = train(_tiny_augmented(6), small, run_dir=tmp_path / "full")
    calls = itertools.count()
    cut = tmp_path / "cut"
    train(_tiny_augmented(6), small, run_dir=cut, should_stop=lambda: next(calls) >= 3)
    for name in ("config.json", "state.json"):
        saved = json.loads((cut / name).read_text(encoding="utf-8"))
        (saved["config"] if name == "config.json" else saved)["model"] = "cnn_best"
        (cut / name).write_text(json.dumps(saved), encoding="utf-8")
    config, _ = read_run_config(cut)
    assert config == _tiny_augmented(6)  # the same config, under the registered name
    resumed = train(config, small, run_dir=cut, resume=True)
    assert resumed.step == 6
    for (name, a), b in zip(
        full.model.state_dict().items(), resumed.model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name
