"""`mnistlab predict RUN_DIR IMAGE...`: a trained model's top classes for your own images.

Each image is pre-processed the way the run's dataset was made: MNIST's digit
normalisation for digit datasets, Fashion-MNIST's conversion for object datasets
(`mnistlab.inference.objects`); the output says which.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from mnistlab.commands.common import add_checkpoint_arg, add_json_arg, add_runtime_args, print_json
from mnistlab.errors import ImageError
from mnistlab.fileio import atomic_write_bytes
from mnistlab.inference import Prediction, classify, for_kind, load_image
from mnistlab.runs.checkpoint import load_model, read_dataset_record
from mnistlab.runtime import resolve_device, set_threads

TOP_K = 3


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "predict",
        help="classify your own images (any size, dark-on-light or light-on-dark)",
        description="Pre-process each image the way the run's dataset was made and print the top "
        "classes: for digits as MNIST (grey, light ink on black, longer side 20 px, centre of mass "
        "at the centre of 28x28), for objects as Fashion-MNIST (trimmed, longest edge 28 px, "
        "sharpened, centred, negated, grey).",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory made by `mnistlab train`")
    p.add_argument("images", metavar="IMAGE", nargs="+", help="image files (PNG, JPEG, GIF, BMP, TIFF, ...)")
    add_checkpoint_arg(p)
    p.add_argument(
        "--save-preprocessed",
        metavar="DIR",
        help="also write the 28x28 image the model saw, as DIR/<image name>-28x28.png",
    )
    add_runtime_args(p)
    add_json_arg(p)
    p.set_defaults(handler=run)


def preprocessed_name(image: str, taken: set[str]) -> str:
    """`<stem>-28x28.png`, numbered when two inputs share a stem; records the name in `taken`."""
    stem = Path(image).stem or "image"
    name, n = f"{stem}-28x28.png", 2
    while name in taken:
        name, n = f"{stem}-{n}-28x28.png", n + 1
    taken.add(name)
    return name


def png_bytes(digit: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(digit).save(buffer, format="PNG")
    return buffer.getvalue()


def describe(prediction: Prediction, classes: list[str]) -> str:
    return ", ".join(f"{classes[c]} {p:.1%}" for c, p in prediction.top(TOP_K))


def label_text(label: int, classes: list[str]) -> str:
    """The label as shown: "7" for a digit class named "7", "9 Ankle boot" otherwise."""
    return classes[label] if classes[label] == str(label) else f"{label} {classes[label]}"


def run(args: argparse.Namespace) -> int:
    device = resolve_device(args.device)
    set_threads(args.threads)
    model, _ = load_model(args.run_dir, args.checkpoint, device)  # a bad RUN_DIR ends here
    trained_on = read_dataset_record(args.run_dir)
    classes, preprocessing = trained_on["classes"], for_kind(trained_on["image_kind"])

    digits: dict[str, np.ndarray] = {}
    errors: dict[str, str] = {}
    for image in args.images:
        try:
            digits[image] = preprocessing.from_image(load_image(image), name=f"Image {image}")
        except ImageError as exc:
            errors[image] = str(exc)
            print(f"mnistlab: error: {exc}", file=sys.stderr)

    if args.save_preprocessed and digits:
        out_dir, taken = Path(args.save_preprocessed), set()
        for image, digit in digits.items():
            atomic_write_bytes(out_dir / preprocessed_name(image, taken), png_bytes(digit))

    predictions: dict[str, Prediction] = {}
    if digits:
        batch = np.stack(list(digits.values()))
        predictions = dict(zip(digits, classify(model, batch), strict=True))

    if args.json:
        rows = []
        for image in args.images:
            if image in errors:
                rows.append({"image": image, "error": errors[image]})
            else:
                p = predictions[image]
                rows.append(
                    {
                        "image": image,
                        "label": p.label,
                        "class": classes[p.label],
                        "top": [[c, prob] for c, prob in p.top(TOP_K)],
                        "probabilities": list(p.probabilities),
                    }
                )
        print_json(
            {
                "run_dir": str(args.run_dir),
                "dataset": trained_on["name"],
                "classes": classes,
                "preprocessing": {"name": preprocessing.name, "description": preprocessing.description},
                "predictions": rows,
            }
        )
    else:
        if predictions:
            print(f"Pre-processing for {trained_on['title']}: {preprocessing.description}.")
        for image in args.images:
            if image in predictions:
                p = predictions[image]
                print(f"{image}: {label_text(p.label, classes)}  (top {TOP_K}: {describe(p, classes)})")
    return 1 if errors else 0
