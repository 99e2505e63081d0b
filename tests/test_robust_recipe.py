"""The `robust` recipe: its model's invariance to faint ink, and exact resume with every augmentation.

References: the same model on the unscaled image (ink-scale invariance is exact up to
float rounding), and an uninterrupted run's weights (bit-identical after a resume).
"""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import torch

from mnistlab.config import TrainConfig, resolve_config
from mnistlab.data import Dataset
from mnistlab.data.splits import Split
from mnistlab.models import create_model
from mnistlab.training import loop as training
from mnistlab.training.augment import AUGMENTATIONS


def test_robust_recipe_resolves_to_the_ink_normalised_cnn() -> None:
    config = resolve_config("cnn", "robust")
    assert config.model == "cnn_bn_ink" and config.recipe == "robust"
    assert len(config.augmentations) >= 3
    assert set(config.augmentations) <= set(AUGMENTATIONS)
    model = create_model(config.model, **config.model_options)
    fast = create_model("cnn_bn", **resolve_config("cnn", "fast").model_options)
    assert sum(p.numel() for p in model.parameters()) >= sum(p.numel() for p in fast.parameters())


def test_the_configs_augmentation_names_are_the_implemented_ones_in_order() -> None:
    from mnistlab import config

    assert tuple(AUGMENTATIONS) == config.AUGMENTATIONS


def test_cnn_bn_ink_reads_faint_ink_as_full_ink() -> None:
    torch.manual_seed(0)
    model = create_model("cnn_bn_ink").eval()
    x = torch.rand(8, 1, 28, 28)
    x = x / x.amax(dim=(1, 2, 3), keepdim=True)  # strongest ink 1.0, as MNIST's digits
    with torch.no_grad():
        reference = model(x)
        for c in (0.25, 0.5):
            torch.testing.assert_close(model(x * c), reference, rtol=1e-4, atol=1e-4)
    # A fast CNN of the same weights is not: batch-norm fixed the scale at training time.
    fast = create_model("cnn_bn").eval()
    fast.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert not torch.allclose(fast(x * 0.25), fast(x), atol=1e-2)


def _tiny_robust(steps: int) -> TrainConfig:
    return TrainConfig(
        model="cnn_bn_ink",
        model_options={"widths": [4, 8, 8]},
        steps=steps,
        batch_size=32,
        optimizer="nesterov",
        lr=0.05,
        momentum=0.9,
        schedule="onecycle",
        augmentations=tuple(AUGMENTATIONS),
        eval_every=3,
        log_every=3,
    )


def test_run_with_every_augmentation_resumes_bit_identically(mnist: Dataset, tmp_path: Path) -> None:
    small = dataclasses.replace(mnist, val=Split(mnist.val.images[:64], mnist.val.labels[:64]))
    small = dataclasses.replace(small, test=small.val)
    full = training.train(_tiny_robust(6), small, run_dir=tmp_path / "full")
    calls = itertools.count()
    cut = training.train(
        _tiny_robust(6), small, run_dir=tmp_path / "cut", should_stop=lambda: next(calls) >= 3
    )
    assert cut.interrupted and cut.step == 3
    resumed = training.train(_tiny_robust(6), small, run_dir=tmp_path / "cut", resume=True)
    for (name, a), b in zip(
        full.model.state_dict().items(), resumed.model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name
    # The augmentations did act: without them the same run ends elsewhere.
    plain = training.train(dataclasses.replace(_tiny_robust(6), augmentations=()), small)
    assert not torch.equal(plain.model.head.weight, full.model.head.weight)


def test_lowres_averages_down_to_a_side_and_back_or_leaves_the_image() -> None:
    from mnistlab.training.augment import LOW_SIDES, random_lowres

    # A 2x2 checkerboard of 14 px squares: at side 7 or 14 each cell is one colour, so the
    # round trip returns it exactly; at 9 and 11 cells straddle the squares and grey appears.
    board = torch.zeros(1, 1, 28, 28)
    board[..., :14, :14] = board[..., 14:, 14:] = 1.0
    images = board.repeat(64, 1, 1, 1)
    out = random_lowres(images, torch.Generator().manual_seed(0))
    blurred = {
        side: torch.nn.functional.interpolate(
            torch.nn.functional.adaptive_avg_pool2d(board, side),
            size=(28, 28),
            mode="bilinear",
            align_corners=False,
        )
        for side in LOW_SIDES
    }
    kinds = [
        next(k for k, ref in {"same": board, **blurred}.items() if torch.allclose(img[None], ref))
        for img in out
    ]
    assert 16 < kinds.count("same") < 48  # a random half is left as it was
    assert any(k in (9, 11) for k in kinds)
    assert torch.allclose(blurred[14][..., 3:11, 3:11], board[..., 3:11, 3:11])  # away from the edge: kept
