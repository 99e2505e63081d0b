"""The run folder's safetensors files: weights, and optimizer state without pickle.

A safetensors file holds named tensors and a string-to-string metadata header, nothing
else; the optimizer's non-tensor state (step counts, hyper-parameters) travels as JSON in
that header, so loading a checkpoint never unpickles anything.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import nn

from mnistlab.errors import CheckpointError
from mnistlab.fileio import atomic_write_bytes
from mnistlab.recipes import canonical_model
from mnistlab.runs.files import read_run_file


def read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """A file's tensors and its metadata header; CheckpointError when missing or corrupt."""
    try:
        data = read_run_file(Path(path), "checkpoint file")
    except FileNotFoundError:
        raise CheckpointError(
            f"Checkpoint file {path} is missing; the run directory is incomplete."
        ) from None
    try:
        tensors = st_load(data)
        header_len = int.from_bytes(data[:8], "little")  # the format: u64 little-endian header size
        metadata = json.loads(data[8 : 8 + header_len]).get("__metadata__", {})
    except (SafetensorError, ValueError) as exc:
        raise CheckpointError(f"Checkpoint file {path} is truncated or corrupt ({exc}).") from None
    return tensors, metadata


def write_safetensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None) -> None:
    atomic_write_bytes(path, st_save(tensors, metadata=metadata))


# -- weights -----------------------------------------------------------------------------


def save_weights(path: Path, model: nn.Module, metadata: dict[str, str] | None = None) -> None:
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    write_safetensors(path, state, metadata)


def load_weights(path: Path, model: nn.Module, *, model_name: str = "?") -> dict[str, str]:
    """Load weights into `model` (strict) once all are finite; returns the file's metadata."""
    tensors, metadata = read_safetensors(path)
    saved_name = metadata.get("model")
    if saved_name is not None and canonical_model(saved_name) != canonical_model(model_name):
        raise CheckpointError(f"{path} holds weights of model {saved_name!r}, not {model_name!r}.")
    for name in sorted(tensors):
        tensor = tensors[name]
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(
                f"{path} holds weights that are not finite (NaN or infinity in {name}); the run diverged "
                f"or the file is damaged, so it cannot be read."
            )
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError:
        raise CheckpointError(
            f"{path} does not fit model {model_name!r}: its parameter names or shapes differ."
        ) from None
    return metadata


# -- optimizer state without pickle ------------------------------------------------------


def flatten_optimizer(state_dict: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """An optimizer state dict as tensors named "optimizer.<param>.<key>" and a JSON-able rest."""
    tensors: dict[str, torch.Tensor] = {}
    plain: dict[str, Any] = {"param_groups": state_dict["param_groups"], "state": {}}
    for index, values in state_dict["state"].items():
        plain["state"][str(index)] = {}
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer.{index}.{key}"] = value.detach().cpu().contiguous()
            else:
                plain["state"][str(index)][key] = value
    return tensors, plain


def unflatten_optimizer(tensors: dict[str, torch.Tensor], plain: dict) -> dict:
    """The inverse of `flatten_optimizer` (tensors not named "optimizer.*" are ignored)."""
    state: dict[int, dict[str, Any]] = {int(i): dict(v) for i, v in plain["state"].items()}
    for name, value in tensors.items():
        if name.startswith("optimizer."):
            _, index, key = name.split(".", 2)
            state.setdefault(int(index), {})[key] = value
    return {"state": state, "param_groups": plain["param_groups"]}
