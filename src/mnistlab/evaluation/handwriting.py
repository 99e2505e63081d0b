"""Real handwriting from outside MNIST, for choosing a reader (validation only, never training).

The set is scikit-learn's copy of the UCI "Optical Recognition of Handwritten Digits" data
(E. Alpaydin and C. Kaynak, 1998; UCI Machine Learning Repository, CC BY 4.0): 1,797 digits
written by 13 people (the UCI test part; the 30 others wrote the training part), scanned as
32x32 bitmaps and stored as 8x8 counts of ink (0..16) per 4x4 block. It ships inside the
scikit-learn wheel (`sklearn.datasets.load_digits`), so nothing is downloaded.

Each digit is made to look like MNIST's the way `mnistlab predict` treats a person's image:
its counts as light-on-dark intensities (16 -> 255), then MNIST's size-normalisation
(`mnistlab.data.layout.preprocess_intensities`: longer side of the ink scaled to 20 px
with Lanczos, centre of mass at the centre). The 8x8 source is coarse: upscaled 2.5x, its
strokes are soft and blocky, harder than a photo of a digit; what a model reads here is a
lower bound for clean handwriting, and a fair way to rank models against each other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from mnistlab.data.layout import preprocess_intensities
from mnistlab.errors import UsageError
from mnistlab.reader.prediction import predict_logits

if TYPE_CHECKING:
    from mnistlab.reader.reader import Reader

SOURCE = "UCI optical digits (scikit-learn load_digits, 1,797 digits by 13 writers, CC BY 4.0)"
INSTALL_HINT = "pip install 'mnistlab[reader]' (it needs scikit-learn, which ships the digits)"


def uci_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """(images uint8 (1797, 28, 28) light-on-dark in MNIST's layout, labels int64 (1797,))."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise UsageError(f"The real-handwriting check needs scikit-learn; {INSTALL_HINT}.") from None
    digits = load_digits()
    counts = np.asarray(digits.images, dtype=np.float32) * (255.0 / 16.0)  # (N, 8, 8) on 0..255
    images = np.stack([preprocess_intensities(c, name=f"UCI digit {i}") for i, c in enumerate(counts)])
    return torch.from_numpy(images), torch.from_numpy(np.asarray(digits.target, dtype=np.int64))


def reader_handwriting(reader: Reader) -> dict[str, Any]:
    """The reader on the UCI digits: right answering all, read (right and answered), abstained."""
    images, labels = uci_digits()
    logits = predict_logits(reader.model, images).cpu()
    right = logits.argmax(dim=1) == labels
    refused = reader.rule.abstains(logits)
    return {
        "source": SOURCE,
        "images": int(labels.numel()),
        "accuracy": float(right.double().mean()),  # answering everything
        "read": float((right & ~refused).double().mean()),  # right and answered
        "abstained": float(refused.double().mean()),
        "rule": reader.rule.to_dict(),
    }
