"""Every registered model: output shape, finite output, a gradient for every parameter,
deterministic eval(). Plus the paper's specifics: zero init, the CNN's layer shapes."""

from __future__ import annotations

import pytest
import torch

from mnistlab.errors import UsageError
from mnistlab.models import create_model, list_models


@pytest.mark.parametrize("name", list_models())
def test_every_model_shapes_gradients_and_eval_determinism(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name)
    x = torch.rand(8, 1, 28, 28)
    logits = model(x)
    assert logits.shape == (8, 10)
    assert torch.isfinite(logits).all()
    torch.nn.functional.cross_entropy(logits, torch.arange(8)).backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, f"{name}.{pname} got no gradient"
        assert torch.isfinite(p.grad).all()
    model.eval()
    with torch.inference_mode():
        assert torch.equal(model(x), model(x))


def test_registry_lists_the_paper_models_and_rejects_unknown_names() -> None:
    assert {"softmax", "cnn"} <= set(list_models())
    with pytest.raises(UsageError, match="Unknown model 'nope'; registered models: .*softmax"):
        create_model("nope")
    with pytest.raises(UsageError, match="Bad options"):
        create_model("softmax", colour="red")


def test_softmax_starts_at_zero_and_accepts_flat_or_image_input() -> None:
    model = create_model("softmax")
    assert all(torch.count_nonzero(p) == 0 for p in model.parameters())
    x = torch.rand(3, 784)
    assert torch.equal(model(x), model(x.view(3, 1, 28, 28)))


def test_paper_cnn_layers_and_initialisation() -> None:
    torch.manual_seed(0)
    model = create_model("cnn")
    shapes = {n: tuple(p.shape) for n, p in model.named_parameters()}
    assert shapes == {
        "conv1.weight": (32, 1, 5, 5), "conv1.bias": (32,),
        "conv2.weight": (64, 32, 5, 5), "conv2.bias": (64,),
        "fc1.weight": (1024, 3136), "fc1.bias": (1024,),
        "fc2.weight": (10, 1024), "fc2.bias": (10,),
    }  # fmt: skip
    for n, p in model.named_parameters():
        if n.endswith("bias"):
            assert torch.all(p == 0.1), n  # "slightly positive initial bias"
        else:
            assert p.abs().max() <= 0.2 + 1e-7, n  # truncated at 2 std of 0.1
            assert 0.08 < p.std() < 0.1, n  # truncation shrinks the std to ~0.088
    # Dropout is active in training only.
    x = torch.rand(4, 1, 28, 28)
    model.eval()
    assert torch.equal(model(x), model(x))
    model.train()
    assert not torch.equal(model(x), model(x))
