"""mnistlab's SGD and Adam against torch.optim's fused twins: the same bits, the same state_dicts.

The reference is torch.optim itself: each test runs both on identical copies of a model
(channels-last convolutions, as training uses) and compares every parameter bit for bit.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from collections.abc import Callable

import pytest
import torch

from mnistlab.config import resolve_config
from mnistlab.models import create_model
from mnistlab.runtime import prepare_model
from mnistlab.training import optim
from mnistlab.training.optim import SGD, Adam

SETTINGS = {
    "sgd": (dict(lr=0.5), dict(lr=0.5)),
    "momentum": (
        dict(lr=0.1, momentum=0.9, weight_decay=5e-4),
        dict(lr=0.1, momentum=0.9, weight_decay=5e-4),
    ),
    "nesterov": (
        dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4),
        dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4),
    ),
    "adam": (dict(lr=1e-3, weight_decay=1e-4), dict(lr=1e-3, weight_decay=1e-4)),
}


def twins(name: str) -> tuple[Callable, Callable]:
    ours, theirs = SETTINGS[name]
    if name == "adam":
        return (lambda p: Adam(p, **ours)), (lambda p: torch.optim.Adam(p, **theirs, fused=True))
    return (lambda p: SGD(p, **ours)), (lambda p: torch.optim.SGD(p, **theirs, fused=True))


def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return prepare_model(create_model("cnn_bn"))


def run_steps(net: torch.nn.Module, optimizer, steps: range, lrs: bool = True) -> None:
    for step in steps:
        if lrs:  # the schedule changes lr between steps, as training does
            for group in optimizer.param_groups:
                group["lr"] = group["lr"] * 0.9
        x = torch.rand(16, 1, 28, 28, generator=torch.Generator().manual_seed(step))
        y = torch.arange(16) % 10
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        optimizer.step()


def same_parameters(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_each_step_is_bit_identical_to_torch_optim_fused(name: str) -> None:
    ours_make, theirs_make = twins(name)
    a, b = model(), model()
    ours, theirs = ours_make(list(a.parameters())), theirs_make(list(b.parameters()))
    run_steps(a, ours, range(5))
    run_steps(b, theirs, range(5))
    assert same_parameters(a, b)
    mine, reference = ours.state_dict(), theirs.state_dict()
    assert mine["param_groups"] == reference["param_groups"]
    assert mine["state"].keys() == reference["state"].keys()
    for index, values in reference["state"].items():
        assert mine["state"][index].keys() == values.keys()
        assert all(torch.equal(mine["state"][index][k], v) for k, v in values.items())


@pytest.mark.parametrize("name", ["nesterov", "adam"])
def test_state_dicts_load_either_way_and_resume_exactly(name: str) -> None:
    ours_make, theirs_make = twins(name)
    straight = model()
    straight_opt = ours_make(list(straight.parameters()))
    run_steps(straight, straight_opt, range(6))

    # Three steps with torch.optim, a round trip through contiguous CPU copies (as a
    # checkpoint stores them), then three with mnistlab's optimizer.
    half = model()
    theirs = theirs_make(list(half.parameters()))
    run_steps(half, theirs, range(3))
    saved = copy.deepcopy(theirs.state_dict())
    saved["state"] = {i: {k: v.contiguous() for k, v in s.items()} for i, s in saved["state"].items()}
    resumed = ours_make(list(half.parameters()))
    resumed.load_state_dict(saved)
    run_steps(half, resumed, range(3, 6))
    assert same_parameters(straight, half)

    # And back: mnistlab's state into torch.optim.
    back = model()
    ours = ours_make(list(back.parameters()))
    run_steps(back, ours, range(3))
    theirs = theirs_make(list(back.parameters()))
    theirs.load_state_dict(copy.deepcopy(ours.state_dict()))
    run_steps(back, theirs, range(3, 6))
    assert same_parameters(straight, back)


def test_a_state_dict_that_does_not_fit_is_refused() -> None:
    net = model()
    adam = Adam(list(net.parameters()), lr=1e-3)
    run_steps(net, adam, range(1))
    sgd = SGD(list(net.parameters()), lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="'step'"):
        sgd.load_state_dict(adam.state_dict())
    smaller = SGD(list(net.parameters())[:-1], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="parameter groups"):
        smaller.load_state_dict(SGD(list(net.parameters()), lr=0.1).state_dict())
    state = adam.state_dict()
    state["state"][0]["exp_avg"] = torch.zeros(3)
    with pytest.raises(ValueError, match="shape"):
        Adam(list(net.parameters()), lr=1e-3).load_state_dict(state)


def test_restored_state_takes_the_parameters_memory_layout() -> None:
    net = model()
    sgd = SGD(list(net.parameters()), lr=0.1, momentum=0.9)
    run_steps(net, sgd, range(1))
    saved = {**sgd.state_dict()}
    saved["state"] = {i: {k: v.contiguous() for k, v in s.items()} for i, s in saved["state"].items()}
    fresh = SGD(list(net.parameters()), lr=0.1, momentum=0.9)
    fresh.load_state_dict(saved)
    conv = net.features[4].weight  # the second convolution: 16 input channels
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    assert fresh.state[conv]["momentum_buffer"].stride() == conv.stride()


def test_training_never_imports_torch_dynamo() -> None:
    # torch.optim.Optimizer imports torch._dynamo (~1.1 s) on construction and each step.
    code = (
        "import sys, numpy as np\n"
        "from mnistlab.config import TrainConfig\n"
        "from mnistlab.recipes import RECIPES\n"
        "from mnistlab.data.splits import dataset_from_arrays\n"
        "from mnistlab.training.loop import train\n"
        "rng = np.random.default_rng(0)\n"
        "images = lambda n: rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)\n"
        "labels = lambda n: rng.integers(0, 10, n).astype(np.uint8)\n"
        "data = dataset_from_arrays('toy', tuple('0123456789'), (images(300), labels(300)),"
        " (images(50), labels(50)), validation_size=50)\n"
        "for name in ('softmax', 'fast'):\n"
        "    train(TrainConfig(**{**RECIPES[name], 'steps': 3, 'batch_size': 20}), data)\n"
        "train(TrainConfig(**{**RECIPES['cnn'], 'steps': 2, 'batch_size': 20}), data)\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "False"


def test_loss_scaling_steps_like_an_unscaled_step() -> None:
    # fp16 training (CUDA) runs the optimizer through GradScaler; its generic path (unscale
    # the gradients, skip a step with inf/NaN) must work on these optimizers. A power-of-two
    # scale unscales exactly, so the parameters match an unscaled step bit for bit.
    plain, scaled = model(), model()
    run_steps(plain, SGD(list(plain.parameters()), lr=0.1, momentum=0.9), range(3), lrs=False)
    optimizer = SGD(list(scaled.parameters()), lr=0.1, momentum=0.9)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    for step in range(3):
        x = torch.rand(16, 1, 28, 28, generator=torch.Generator().manual_seed(step))
        optimizer.zero_grad()
        scaler.scale(torch.nn.functional.cross_entropy(scaled(x), torch.arange(16) % 10)).backward()
        scaler.step(optimizer)
        scaler.update()
    assert same_parameters(plain, scaled)

    # An overflow skips the step and leaves the parameters alone.
    before = [p.clone() for p in scaled.parameters()]
    optimizer.zero_grad()
    scaler.scale(scaled(x).sum() * float("inf")).backward()
    scaler.step(optimizer)
    assert all(torch.equal(p, q) for p, q in zip(before, scaled.parameters(), strict=True))


@pytest.fixture
def fresh_check():
    """`fused_kernels_work` is cached per process: clear it around a test that breaks a kernel."""
    optim.fused_kernels_work.cache_clear()
    yield
    optim.fused_kernels_work.cache_clear()


@pytest.mark.parametrize("kernel", ["_fused_sgd_", "_fused_adam_"])
@pytest.mark.parametrize("breakage", ["missing", "wrong"])
def test_without_a_working_private_kernel_training_falls_back_to_torch_optim(
    kernel, breakage, fresh_check, monkeypatch
) -> None:
    assert optim.fused_kernels_work()  # this torch's kernels pass the closed-form step
    optim.fused_kernels_work.cache_clear()
    if breakage == "missing":
        monkeypatch.delattr(torch, kernel)
    else:  # present, but it no longer updates the parameters in place
        monkeypatch.setattr(torch, kernel, lambda *args, **kwargs: None)
    assert not optim.fused_kernels_work()
    for name, expected in (("adam", torch.optim.Adam), ("nesterov", torch.optim.SGD)):
        config = resolve_config("cnn", "fast", overrides={"optimizer": name})
        net = model()
        optimizer = optim.build_optimizer(config, net)
        assert type(optimizer) is expected
        before = copy.deepcopy(net)
        run_steps(net, optimizer, range(2))
        assert not same_parameters(before, net)  # it trains
