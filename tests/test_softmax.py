"""The paper's softmax regression: closed-form gradient, determinism, the paper's accuracy."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mnistlab.config import resolve_config
from mnistlab.data import Dataset, normalize, one_hot
from mnistlab.models import create_model
from mnistlab.training.loop import train


def test_cross_entropy_gradient_matches_the_closed_form() -> None:
    # For y = softmax(Wx + b) and mean cross-entropy, dL/dW = X^T (p - y) / n, dL/db = mean(p - y).
    torch.manual_seed(0)
    model = create_model("softmax").double()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.01)  # away from zero so p != 1/10 everywhere
    x = torch.rand(32, 784, dtype=torch.float64)
    labels = torch.randint(0, 10, (32,))
    F.cross_entropy(model(x), labels).backward()
    p = torch.softmax(model(x), dim=1).detach()
    residual = p - one_hot(labels).double()
    assert torch.allclose(model.linear.weight.grad, (x.T @ residual / 32).T, atol=1e-12)
    assert torch.allclose(model.linear.bias.grad, residual.mean(0), atol=1e-12)


def test_cross_entropy_from_logits_is_finite_where_log_of_softmax_is_not() -> None:
    logits = torch.tensor([[1000.0, 0.0]])
    naive = -(one_hot(torch.tensor([1]), 2) * torch.log(torch.softmax(logits, 1))).sum()
    assert not torch.isfinite(naive)  # the tutorial's formula
    assert torch.isfinite(F.cross_entropy(logits, torch.tensor([1])))


def test_paper_recipe_1000_steps_reaches_the_paper_region(mnist: Dataset) -> None:
    result = train(resolve_config("softmax", overrides={"seed": 0}), mnist)
    # Paper: 91.86 %. The floor for one seed is 90.5 %; seed 0 measured 91.78 %.
    assert result.test_accuracy >= 0.905
    assert result.step == 1000 and not result.interrupted


def test_same_seed_gives_bit_identical_weights_and_accuracy(mnist: Dataset) -> None:
    config = resolve_config("softmax", overrides={"steps": 200, "seed": 5})
    a, b = train(config, mnist), train(config, mnist)
    assert torch.equal(a.model.linear.weight, b.model.linear.weight)
    assert a.test_accuracy == b.test_accuracy
    other = train(resolve_config("softmax", overrides={"steps": 200, "seed": 6}), mnist)
    assert not torch.equal(a.model.linear.weight, other.model.linear.weight)


def test_evaluation_equals_an_independent_computation(mnist: Dataset) -> None:
    from mnistlab.evaluation.metrics import evaluate

    model = train(resolve_config("softmax", overrides={"steps": 100}), mnist).model
    ev = evaluate(model, mnist.test)
    with torch.no_grad():
        x = normalize(mnist.test.images).view(-1, 784)
        predicted = (x @ model.linear.weight.T + model.linear.bias).argmax(1)
    truth = mnist.test.labels
    assert ev.accuracy == (predicted == truth).sum().item() / 10_000
    for t in range(10):
        for q in range(10):
            assert ev.confusion[t][q] == int(((truth == t) & (predicted == q)).sum())
    assert sum(map(sum, ev.confusion)) == 10_000
