"""Evaluation: how good a trained model is, and where it fails.

- `metrics`: accuracy by argmax, per-class accuracy and the confusion matrix, in batches.
- `corruptions`: seeded corruptions of digits (MNIST-C style), five severities each.
- `robustness`: a model's accuracy on every corruption of one split.
- `units`: never-firing ReLU units.
- `ensemble`: the mean class probabilities of several runs.
- `trust`: how far the reader's answers can be trusted: calibration and outliers, ood.json.
- `handwriting`: real handwriting from outside MNIST (UCI digits), and the reader on it.
- `numbers`: seeded written numbers, read whole.
"""

import lazy_loader

# Each name loads its module on first use (SPEC 1), so importing the package loads nothing.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "metrics": [
            "Evaluation",
            "accuracy",
            "confusion_matrix",
            "evaluate",
            "evaluation_from_logits",
        ],
        "robustness": ["RobustnessResult", "evaluate_robustness"],
        "ensemble": ["EnsembleResult", "evaluate_ensemble", "mean_probabilities"],
        "units": ["never_firing"],
    },
)
