"""The recipes' optimizers and learning-rate schedules.

`SGD` and `Adam` call the fused kernels that `torch.optim.SGD(fused=True)` and
`torch.optim.Adam(fused=True)` run, without `torch.optim.Optimizer`: that base class imports
`torch._dynamo` when it is built and on every step, about 1.1 s (as long as importing torch
itself) on a 2-core AMD EPYC with torch 2.13, paid by every `mnistlab train` before its
first step. Same kernel, same arguments: the numbers are bit-identical to torch.optim's and
the state_dicts interchangeable (tests/test_optim.py), so checkpoints written either way
resume exactly. The kernels are private to torch: `fused_kernels_work` checks once per process
that both exist and give one step's closed form, and `build_optimizer` falls back to
torch.optim (and its import) wherever they do not.

`learning_rate` is a pure function of the step, so a resumed run needs no schedule state.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from mnistlab.config import TrainConfig


class _Fused:
    """One parameter group on one device, updated in place by a fused kernel."""

    state_keys: tuple[str, ...] = ()  # what `state` holds per parameter

    def __init__(self, params: Iterable[nn.Parameter], hyper: dict[str, Any]) -> None:
        params = list(params)
        places = {(p.device, p.dtype) for p in params}
        if len(places) > 1 or any(p.dtype != torch.float32 for p in params):
            raise ValueError(
                f"fused optimizers take float32 parameters on one device, got {sorted(map(str, places))}"
            )
        # The keys torch.optim writes, in its order, so state_dicts load either way.
        self.param_groups: list[dict[str, Any]] = [{**hyper, "params": params}]
        self.state: dict[nn.Parameter, dict[str, torch.Tensor]] = {}

    @property
    def params(self) -> list[nn.Parameter]:
        return self.param_groups[0]["params"]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def state_dict(self) -> dict[str, Any]:
        """torch.optim's layout: state by parameter index, the group's settings with indices."""
        group = {k: v for k, v in self.param_groups[0].items() if k != "params"}
        return {
            "state": {i: dict(self.state[p]) for i, p in enumerate(self.params) if p in self.state},
            "param_groups": [{**group, "params": list(range(len(self.params)))}],
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a state_dict of this optimizer or of its torch.optim twin; ValueError if it does not fit."""
        groups = state_dict["param_groups"]
        if len(groups) != 1 or len(groups[0]["params"]) != len(self.params):
            sizes = [len(g["params"]) for g in groups]
            raise ValueError(
                f"it has parameter groups of {sizes} tensors, this model has one of {len(self.params)}"
            )
        state: dict[nn.Parameter, dict[str, torch.Tensor]] = {}
        for index, param in zip(groups[0]["params"], self.params, strict=True):
            saved = state_dict["state"].get(index)
            if saved is not None:
                state[param] = {key: self._restored(param, key, value) for key, value in saved.items()}
        self.state = state
        self.param_groups[0].update({k: v for k, v in groups[0].items() if k != "params"})

    def _restored(self, param: nn.Parameter, key: str, value: torch.Tensor) -> torch.Tensor:
        if key not in self.state_keys:
            raise ValueError(f"it holds {key!r}, which {type(self).__name__} does not keep")
        if key == "step":
            return value.to(device=param.device, dtype=torch.float32)
        if value.shape != param.shape:
            raise ValueError(
                f"its {key!r} has shape {tuple(value.shape)}, the parameter {tuple(param.shape)}"
            )
        # The parameter's memory layout too: fused kernels pair elements by memory position,
        # so a contiguous buffer next to a channels-last weight would change the numbers.
        return torch.empty_like(param).copy_(value)

    def _with_grads(self) -> tuple[list[nn.Parameter], list[torch.Tensor]]:
        params = [p for p in self.params if p.grad is not None]
        return params, [p.grad for p in params]  # type: ignore[misc]


class SGD(_Fused):
    """SGD with optional (Nesterov) momentum and L2 weight decay (torch.optim.SGD's update)."""

    state_keys = ("momentum_buffer",)

    def __init__(
        self,
        params: Iterable[nn.Parameter],
        *,
        lr: float,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        hyper = dict(lr=lr, momentum=momentum, dampening=0, weight_decay=weight_decay, nesterov=nesterov)
        super().__init__(
            params, {**hyper, "maximize": False, "foreach": None, "differentiable": False, "fused": True}
        )

    @torch.no_grad()
    def step(self) -> None:
        group = self.param_groups[0]
        params, grads = self._with_grads()
        buffers: list[torch.Tensor] = []
        first = False
        if group["momentum"] != 0:
            first = all(p not in self.state for p in params)
            if first:
                # The first step's kernel writes the buffers without reading them.
                for p, g in zip(params, grads, strict=True):
                    self.state[p] = {"momentum_buffer": torch.empty_like(g)}
            buffers = [self.state[p]["momentum_buffer"] for p in params]
        torch._fused_sgd_(
            params,
            grads,
            buffers,
            weight_decay=group["weight_decay"],
            momentum=group["momentum"],
            lr=group["lr"],
            dampening=group["dampening"],
            nesterov=group["nesterov"],
            maximize=False,
            is_first_step=first,
        )


class Adam(_Fused):
    """Adam with L2 weight decay added to the gradient (torch.optim.Adam's update)."""

    state_keys = ("step", "exp_avg", "exp_avg_sq")

    def __init__(
        self,
        params: Iterable[nn.Parameter],
        *,
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        hyper = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=False, maximize=False)
        flags = dict(foreach=None, capturable=False, differentiable=False, fused=True)
        super().__init__(params, {**hyper, **flags, "decoupled_weight_decay": False})

    @torch.no_grad()
    def step(self) -> None:
        group = self.param_groups[0]
        params, grads = self._with_grads()
        for p in params:
            if p not in self.state:
                self.state[p] = {
                    "step": torch.zeros((), dtype=torch.float32, device=p.device),
                    "exp_avg": torch.zeros_like(p, memory_format=torch.preserve_format),
                    "exp_avg_sq": torch.zeros_like(p, memory_format=torch.preserve_format),
                }
        states = [self.state[p] for p in params]
        steps = [s["step"] for s in states]
        torch._foreach_add_(steps, 1)
        beta1, beta2 = group["betas"]
        torch._fused_adam_(
            params,
            grads,
            [s["exp_avg"] for s in states],
            [s["exp_avg_sq"] for s in states],
            [],
            steps,
            amsgrad=False,
            lr=group["lr"],
            beta1=beta1,
            beta2=beta2,
            weight_decay=group["weight_decay"],
            eps=group["eps"],
            maximize=False,
        )


Optimizer = SGD | Adam | torch.optim.Optimizer


@functools.cache
def fused_kernels_work() -> bool:
    """Whether torch's private fused SGD and Adam kernels exist and take one step as they should.

    The first step from empty state has a closed form: SGD with momentum moves p by -lr * g;
    Adam by -lr * g / (|g| + eps), its bias-corrected moments being g and g^2.
    """
    try:
        grad = torch.tensor([0.5, -2.0, 1.0e-3, 3.0])
        sgd, adam = nn.Parameter(torch.ones(4)), nn.Parameter(torch.ones(4))
        sgd.grad, adam.grad = grad.clone(), grad.clone()
        SGD([sgd], lr=0.1, momentum=0.9).step()
        Adam([adam], lr=0.1, eps=1e-8).step()
    except (AttributeError, RuntimeError, TypeError):  # a kernel gone, renamed or re-signed
        return False
    return bool(
        torch.allclose(sgd.detach(), 1 - 0.1 * grad, rtol=0, atol=1e-6)
        and torch.allclose(adam.detach(), 1 - 0.1 * grad / (grad.abs() + 1e-8), rtol=0, atol=1e-6)
    )


def build_optimizer(config: TrainConfig, model: nn.Module) -> Optimizer:
    params = list(model.parameters())
    if all(p.device.type in ("cpu", "cuda") for p in params) and fused_kernels_work():
        # One fused kernel for the whole update: 12-15 % more paper-CNN steps per second
        # than `foreach`, measured on a 2-core AMD EPYC.
        if config.optimizer == "adam":
            return Adam(params, lr=config.lr, weight_decay=config.weight_decay)
        return SGD(
            params,
            lr=config.lr,
            momentum=config.momentum,
            nesterov=config.optimizer == "nesterov",
            weight_decay=config.weight_decay,
        )
    # Other devices (mps, ...), or a torch without these kernels: torch.optim's multi-tensor path,
    # whatever it costs to import.
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay, foreach=True)
    return torch.optim.SGD(
        params,
        lr=config.lr,
        momentum=config.momentum,
        nesterov=config.optimizer == "nesterov",
        weight_decay=config.weight_decay,
        foreach=True,
    )


def learning_rate(config: TrainConfig, step: int) -> float:
    """The learning rate of `step` (0-based); a pure function, so resuming needs no state."""
    if config.schedule == "constant":
        return config.lr
    # One-cycle (Smith & Topin 2018): linear warm-up to lr, then cosine down to ~0.
    warmup = max(1, int(config.warmup_fraction * config.steps))
    if step < warmup:
        return config.lr * (0.1 + 0.9 * step / warmup)
    progress = (step - warmup) / max(1, config.steps - warmup)
    return config.lr * 0.5 * (1.0 + math.cos(math.pi * progress))


def match_layouts(optimizer: Optimizer) -> None:
    """Give restored torch.optim state (saved contiguous) its parameter's memory layout.

    `SGD` and `Adam` restore layouts themselves; torch.optim's foreach kernels, like the
    fused ones, pair elements by memory position.
    """
    for param, state in optimizer.state.items():
        for key, value in state.items():
            if (
                isinstance(value, torch.Tensor)
                and value.shape == param.shape
                and value.stride() != param.stride()
            ):
                state[key] = torch.empty_like(param).copy_(value)
