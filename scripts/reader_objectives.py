"""Compare objectives for refusing what is not a digit, on validation only (docs/reader.md).

    PYTHONPATH=src python scripts/reader_objectives.py train NAME OUT_DIR [KEY=VALUE ...] [--threads N]
    PYTHONPATH=src python scripts/reader_objectives.py measure RUN_DIR [RUN_DIR ...] [--split val]

`train` trains the `reader` recipe with the candidate's overrides (`VARIANTS[NAME]`, then any
KEY=VALUE given as JSON values) into OUT_DIR, with `--threads 1` as the table's runs. `measure` prints, per run, on the chosen split:
MNIST accuracy, the abstention rule fitted on MNIST validation at the calibration's quantile
(0.5 %) with each score, the share of MNIST digits it refuses and the accuracy among the
answered, the UCI digits and 1,000 digits written with a pen (`mnistlab.data.pen_digits`: half
with the negatives' pen, half with a heavy one) read right (right and answered), and the share refused of each
outlier set of `evaluate --report ood` (`mnistlab.evaluation.trust.outlier_images`): the
pen-stroke negatives of the split (500 a family), Fashion-MNIST's split and the made sets. A model trained with a "not a digit" output is
read through its digit outputs' log-probabilities, log softmax(z)[:10] (at temperature 1 the
energy score is then log P(a digit)); every model's temperature is fitted on MNIST validation.
Not a test: a run takes 3-6 minutes on 2 threads.
"""

from __future__ import annotations

import argparse
import json
import sys

import torch

from mnistlab.config import resolve_config
from mnistlab.data import load_dataset
from mnistlab.data.pen_digits import pen_digits
from mnistlab.evaluation.handwriting import uci_digits
from mnistlab.evaluation.trust import outlier_images
from mnistlab.reader.abstention import fit_rule
from mnistlab.reader.confidence import fit_temperature
from mnistlab.reader.prediction import predict_logits
from mnistlab.runs.checkpoint import load_model
from mnistlab.training import train
from mnistlab.training.exposure import outlier_pool

# The candidates of docs/reader.md's table, each as overrides of today's `reader` recipe (the class
# objective, low resolution, outliers from half the run). "early": outliers from a quarter of the
# run, as the first candidates were trained; "digits only": without the low-resolution augmentation.
EARLY = {"outlier_start": 0.25, "outlier_ramp": 0.25}
DIGITS_ONLY = {"augmentations": ["thickness", "affine"]}
VARIANTS = {
    "uniform": {**EARLY, **DIGITS_ONLY, "outlier_loss": "uniform"},
    "class": {**EARLY, **DIGITS_ONLY},
    "objectosphere": {**EARLY, **DIGITS_ONLY, "outlier_loss": "objectosphere"},
    "uniform-lowres": {**EARLY, "outlier_loss": "uniform"},
    "objectosphere-lowres": {**EARLY, "outlier_loss": "objectosphere"},
    "class-lowres": {**EARLY},
    "class-lowres-w03": {**EARLY, "outlier_exposure": 0.3},
    "class-lowres-8ep": {**EARLY, "steps": 1720, "eval_every": 1720},
    "reader": {},
}
QUANTILE = 0.005
PEN_DIGITS = 1000


def train_variant(name: str, out_dir: str, extra: dict) -> None:
    data = load_dataset("mnist")
    config = resolve_config("cnn", "reader", overrides={**VARIANTS[name], **extra})
    result = train(config, data, run_dir=out_dir, outliers=outlier_pool(data, config.outlier_sets))
    print(json.dumps({"run": out_dir, "val_accuracy": result.val_accuracy, "seconds": result.train_seconds}))


def digit_logits(model: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """(N, 10) float64: the logits as every reader reads them (`mnistlab.models.heads`)."""
    return predict_logits(model, images).cpu().double()


def measure(run_dir: str, split: str) -> dict:
    data = load_dataset("mnist")
    fashion = load_dataset("fashion-mnist")
    model, _ = load_model(run_dir, "final", "cpu")
    val = digit_logits(model, data.val.images)
    temperature = fit_temperature(val.float(), data.val.labels)
    inside = digit_logits(model, data.split(split).images)
    labels = data.split(split).labels
    uci_images, uci_labels = uci_digits()
    uci = digit_logits(model, uci_images)
    pen_images, pen_labels = pen_digits(PEN_DIGITS, split=split, seed=0)
    written = digit_logits(model, pen_images)
    sets = outlier_images(data, fashion, split)
    outside = {n: digit_logits(model, x) for n, x in sets.items()}
    report: dict = {
        "run": run_dir,
        "split": split,
        "accuracy": float((inside.argmax(1) == labels).double().mean()),
    }
    for name in ("msp", "energy"):
        rule = fit_rule(val.float(), name, temperature, QUANTILE, "mnist validation")
        refused = rule.abstains(inside.float())
        right = inside.argmax(1) == labels
        uci_refused = rule.abstains(uci.float())
        report[name] = {
            "abstained": float(refused.double().mean()),
            "selective_accuracy": float(right[~refused].double().mean()),
            "uci_read": float(((uci.argmax(1) == uci_labels) & ~uci_refused).double().mean()),
            # Pen-written digits, even items with the negatives' pen, odd ones with a heavy pen.
            "pen_digits_read": [
                float(
                    ((written.argmax(1) == pen_labels) & ~rule.abstains(written.float()))[k::2]
                    .double()
                    .mean()
                )
                for k in (0, 1)
            ],
            "refused": {
                n: round(float(rule.abstains(z.float()).double().mean()), 4) for n, z in outside.items()
            },
        }
    return report


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="what", required=True)
    t = sub.add_parser("train")
    t.add_argument("name", choices=sorted(VARIANTS))
    t.add_argument("out_dir")
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("extra", nargs="*", help="KEY=VALUE overrides, values as JSON")
    m = sub.add_parser("measure")
    m.add_argument("runs", nargs="+")
    m.add_argument("--split", default="val", choices=("val", "test"))
    m.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.what == "train":
        extra = {k: json.loads(v) for k, v in (kv.split("=", 1) for kv in args.extra)}
        train_variant(args.name, args.out_dir, extra)
    else:
        for run in args.runs:
            print(json.dumps(measure(run, args.split)))


if __name__ == "__main__":
    main(sys.argv[1:])
