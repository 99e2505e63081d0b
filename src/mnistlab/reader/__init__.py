"""The reader: a trained model's answer for 28x28 inputs, how sure it is, and when it abstains.

- `prediction`: logits in batches, and class probabilities for pre-processed images.
- `confidence`: the temperature fitted on validation, and ECE, NLL and Brier score.
- `abstention`: the scores of how much an input looks like the classes, and the rule that refuses.
- `calibration`: a run's temperature and rule fitted on its validation split, and calibration.json.
- `calibration_file`: calibration.json's schema, checked on every read.
- `reader`: a run's model with its temperature and its rule for saying "not a digit".
"""

import lazy_loader

# Each name loads its module on first use (SPEC 1), so importing the package loads nothing.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "prediction": [
            "EVAL_BATCH_SIZE",
            "Prediction",
            "classify",
            "image_logits",
            "predict_logits",
            "predictions",
        ],
        "confidence": ["CalibrationMetrics", "calibration_metrics", "fit_temperature"],
        "abstention": ["SCORES", "AbstentionRule", "fit_rule"],
        "calibration": [
            "CALIBRATION_FILE",
            "calibration_content",
            "calibration_or_default",
            "fit_calibration",
            "read_calibration",
            "write_calibration",
        ],
        "reader": ["Reader", "Reading"],
    },
)
