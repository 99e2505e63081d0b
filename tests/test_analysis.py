"""Never-firing ReLU units, on models where the answer is known in closed form."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mnistlab.evaluation.units import PAPER_CNN_RELU_INPUTS, never_firing
from mnistlab.models import create_model


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, kernel_size=1)
        self.fc = nn.Linear(2, 3)
        with torch.no_grad():
            self.conv.weight.fill_(1.0)
            self.conv.bias.copy_(torch.tensor([0.0, -100.0]))  # channel 1 can never fire on [0, 1] pixels
            self.fc.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]))
            self.fc.bias.copy_(
                torch.tensor([0.0, -100.0, 0.0])
            )  # unit 1: large negative bias; unit 2: always 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.conv(x)).amax(dim=(2, 3))  # (N, 2)
        return torch.relu(self.fc(h))


def test_a_unit_with_a_large_negative_bias_never_fires() -> None:
    images = torch.zeros(5, 1, 3, 4)
    images[2, 0, 0, 0] = 0.5  # one pixel of one image is ink: channel 0 fires there only
    counts = never_firing(Tiny(), images, ("conv", "fc"), batch_size=2)
    assert counts["conv"] == {
        "units": 2 * 3 * 4,
        "never_fire": (12 - 1) + 12,  # channel 0 fires at one position; channel 1 nowhere
        "channels": 2,
        "channels_never_fire": 1,
        "fraction": 23 / 24,
    }
    # fc inputs (0.5, 0) on image 2: unit 0 fires; unit 1 (bias -100) never; unit 2 outputs 0, never > 0.
    assert counts["fc"] == {"units": 3, "never_fire": 2, "fraction": 2 / 3}
    assert counts["total"] == {"units": 27, "never_fire": 25, "fraction": 25 / 27}


def test_paper_cnn_with_very_negative_biases_has_only_dead_units() -> None:
    # |conv1 weights . 5x5 patch| <= 25 * 0.2 for pixels in [0, 1]: below a bias of 100 everywhere,
    # so conv1 never fires, conv2 sees zeros and outputs its bias, and so does fc1.
    model = create_model("cnn", bias_init=-100.0)
    counts = never_firing(model, torch.rand(8, 1, 28, 28), PAPER_CNN_RELU_INPUTS)
    assert [counts[name]["fraction"] for name in (*PAPER_CNN_RELU_INPUTS, "total")] == [1.0] * 4
    assert counts["conv1"]["units"] == 32 * 28 * 28 and counts["fc1"]["units"] == 1024
    assert counts["conv2"]["channels_never_fire"] == 64
    assert model.training  # the model's mode is restored


def test_unknown_layers_are_refused() -> None:
    with pytest.raises(ValueError, match="conv9"):
        never_firing(Tiny(), torch.zeros(1, 1, 2, 2), ("conv9",))
