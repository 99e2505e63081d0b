"""`mnistlab predict RUN_DIR IMAGE...`: a trained model's top classes for your own images.

Each image is pre-processed the way the run's dataset was made: MNIST's digit
normalisation for digit datasets, Fashion-MNIST's conversion for object datasets
(`mnistlab.inference.objects`); the output says which. Probabilities are calibrated with the
run's temperature, and an image the run's abstention rule refuses is "not a digit" (JSON
`"abstain": true, "number": null`, each digit with its score, threshold and reason) unless
`--always-answer`.

A digit image may hold a whole number: with no RUN_DIR (the shipped reader) it is read whole by
the line reader that ships with mnistlab when that read validation numbers better
(`mnistlab.lines.number`; one digit still reads as before), else every digit is found, pre-processed on its own and read, left to right (`mnistlab.inference.number`); JSON gives
each image as a number (one shape for any count of digits, `inference.number.number_fields`),
text the number (each digit with `--explain`). `--single` reads the image as one digit.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from mnistlab.commands.common import add_checkpoint_arg, add_json_arg, add_runtime_args, print_json
from mnistlab.errors import ImageError, UsageError
from mnistlab.fileio import atomic_write_bytes
from mnistlab.inference import for_kind, load_image
from mnistlab.inference.number import NumberReading, number_fields
from mnistlab.lines.number import read_any_number
from mnistlab.reader import Prediction, Reader, Reading
from mnistlab.runtime import resolve_device, set_threads

TOP_K = 3


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "predict",
        help="classify your own images (any size, dark-on-light or light-on-dark)",
        description="Pre-process each image the way the run's dataset was made and print the top "
        "classes: for digits as MNIST (grey, light ink on black, longer side 20 px, centre of mass "
        "at the centre of 28x28), for objects as Fashion-MNIST (trimmed, longest edge 28 px, "
        "sharpened, centred, negated, grey). Probabilities are calibrated with the run's temperature, "
        "and an image the run's rule refuses is 'not a digit'. A written number is read digit by digit, "
        "left to right. With no RUN_DIR it reads with the reader that ships with mnistlab, made by "
        "`mnistlab train cnn --recipe reader --seed 0` (train your own with that command).",
    )
    p.add_argument(
        "run_dir",
        metavar="RUN_DIR",
        nargs="?",
        help="a run directory made by `mnistlab train` (default: the reader that ships with mnistlab)",
    )
    p.add_argument(
        "images",
        metavar="IMAGE",
        nargs="+",
        help="image files: PNG, JPEG, WebP, BMP, GIF (first frame) or TIFF",
    )
    add_checkpoint_arg(p)
    p.add_argument(
        "--always-answer",
        action="store_true",
        help="give the most probable class even where the reader would abstain (it still says so)",
    )
    p.add_argument(
        "--single",
        action="store_true",
        help="read each image as one digit (by default every digit of a written number is read, left to right)",
    )
    p.add_argument(
        "--explain", action="store_true", help="also print each digit of a number: its box and reading"
    )
    p.add_argument(
        "--save-preprocessed",
        metavar="DIR",
        help="also write the 28x28 image the model saw, as DIR/<image name>-28x28.png "
        "(for a number, one per digit: DIR/<image name>-digit<k>-28x28.png)",
    )
    add_runtime_args(p)
    add_json_arg(p)
    p.set_defaults(handler=run)


def preprocessed_name(image: str, taken: set[str], suffix: str = "") -> str:
    """`<stem><suffix>-28x28.png`, numbered when two inputs share a stem; records the name in `taken`."""
    stem = (Path(image).stem or "image") + suffix
    name, n = f"{stem}-28x28.png", 2
    while name in taken:
        name, n = f"{stem}-{n}-28x28.png", n + 1
    taken.add(name)
    return name


def png_bytes(digit: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(digit).save(buffer, format="PNG")
    return buffer.getvalue()


def describe(prediction: Prediction, classes: tuple[str, ...]) -> str:
    return ", ".join(f"{classes[c]} {p:.1%}" for c, p in prediction.top(TOP_K))


def label_text(label: int, classes: tuple[str, ...]) -> str:
    """The label as shown: "7" for a digit class named "7", "9 Ankle boot" otherwise."""
    return classes[label] if classes[label] == str(label) else f"{label} {classes[label]}"


def reading_text(image: str, reading: Reading, reader: Reader, always_answer: bool) -> str:
    p, classes = reading.prediction, reader.classes
    top = f"(top {TOP_K}: {describe(p, classes)})"
    if not reading.abstain:
        return f"{image}: {label_text(p.label, classes)}  {top}"
    if always_answer:
        return f"{image}: {label_text(p.label, classes)}, unsure ({reader.reason(reading)})  {top}"
    return f"{image}: {reader.refusal}  ({reader.rule.score} {reading.score:.3f} < {reading.threshold:.3f}; {top})"


def number_text(image: str, number: NumberReading, reader: Reader, args: argparse.Namespace) -> list[str]:
    """The lines `predict` prints for one image: as before for one digit, the number for several."""
    digits = number.digits
    if len(digits) == 1:
        lines = [reading_text(image, digits[0].reading, reader, args.always_answer)]
    else:
        read = number.number(reader.classes, always_answer=True)
        refused = [k for k, d in enumerate(digits, start=1) if d.reading.abstain]
        if not refused:
            lines = [f"{image}: {read}  ({len(digits)} digits)"]
        elif args.always_answer:
            lines = [
                f"{image}: {read}, unsure (digit {', '.join(map(str, refused))} of {len(digits)}: {reader.refusal})"
            ]
        else:
            lines = [
                f"{image}: not a number: digit {', '.join(map(str, refused))} of {len(digits)} is {reader.refusal}"
            ]
    if number.dropped:
        lines.append(
            f"  ({number.dropped} speck{'s' * (number.dropped > 1)} too small to be a digit left out)"
        )
    if args.explain:
        for k, d in enumerate(digits, start=1):
            box = ", ".join(map(str, d.box))
            if d.reason is not None and d.reading.abstain and not args.always_answer:  # the line reader's
                lines.append(f"  digit {k} at [{box}]: {reader.refusal}  ({d.reason})")
                continue
            lines.append("  " + reading_text(f"digit {k} at [{box}]", d.reading, reader, args.always_answer))
    return lines


def output_folder(value: str) -> Path:
    """The --save-preprocessed folder, checked before anything is read or written: it, or the
    nearest of its parents that exists, must be a folder that can be written to."""
    path = Path(value)
    existing = next(p for p in (path, *path.absolute().parents) if p.exists() or p.is_symlink())
    if not existing.is_dir():
        if existing == path:
            raise UsageError(
                f"--save-preprocessed {value} is a file, not a folder; pass a folder (it is made if missing)."
            )
        raise UsageError(f"--save-preprocessed {value} cannot be made: {existing} is a file, not a folder.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"--save-preprocessed {value} cannot be written: {existing} is not writable.")
    return path


def save_preprocessed(out_dir: Path, numbers: dict[str, NumberReading]) -> None:
    taken: set[str] = set()
    for image, number in numbers.items():
        several = len(number.digits) > 1
        for k, digit in enumerate(number.digits, start=1):
            name = preprocessed_name(image, taken, f"-digit{k}" if several else "")
            try:
                atomic_write_bytes(out_dir / name, png_bytes(digit.image))
            except OSError as exc:  # a full disk, or the folder changed after the check
                raise UsageError(
                    f"--save-preprocessed {out_dir}: {name} cannot be written ({exc.strerror or exc})."
                ) from None


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp")


def resolve_run(run_dir: str | None, images: list[str]) -> tuple[str, list[str], bool]:
    """(run directory, images, whether it is the shipped reader): `predict IMAGE...` with no run
    directory reads with the reader in the package. The first argument is a run directory when it
    is a directory, or does not exist and is not named like an image (so a mistyped run directory
    still gets its own sentence)."""
    if run_dir is not None:
        path = Path(run_dir)
        if path.is_dir() or not (path.is_file() or path.suffix.lower() in IMAGE_SUFFIXES):
            return run_dir, images, False
    from mnistlab.models.pretrained import reader_run

    return str(reader_run()), ([run_dir] if run_dir is not None else []) + images, True


def run(args: argparse.Namespace) -> int:
    out_dir = output_folder(args.save_preprocessed) if args.save_preprocessed else None
    device = resolve_device(args.device)
    set_threads(args.threads)
    args.run_dir, args.images, shipped = resolve_run(args.run_dir, args.images)
    if shipped:
        print(
            "mnistlab: no run directory given: reading with the reader that ships with mnistlab "
            "(made by `mnistlab train cnn --recipe reader --seed 0`).",
            file=sys.stderr,
        )
    reader = Reader.from_run(args.run_dir, args.checkpoint, device)  # a bad RUN_DIR ends here
    if reader.note:
        print(f"mnistlab: {reader.note}", file=sys.stderr)
    preprocessing = for_kind(reader.image_kind)

    numbers: dict[str, NumberReading] = {}
    errors: dict[str, str] = {}
    for image in args.images:
        try:
            numbers[image] = read_any_number(
                reader, load_image(image), name=f"Image {image}", single=args.single, lines=shipped
            )
        except ImageError as exc:
            errors[image] = str(exc)
            print(f"mnistlab: error: {exc}", file=sys.stderr)

    if out_dir is not None and numbers:
        save_preprocessed(out_dir, numbers)

    if args.json:
        rows = [
            {"image": image, "error": errors[image]}
            if image in errors
            else {"image": image, **number_fields(numbers[image], reader, always_answer=args.always_answer)}
            for image in args.images
        ]
        print_json(
            {
                "run_dir": str(args.run_dir),
                "dataset": reader.dataset,
                "classes": list(reader.classes),
                "preprocessing": {"name": preprocessing.name, "description": preprocessing.description},
                **reader.describe(),
                "predictions": rows,
            }
        )
    else:
        if numbers:
            print(f"Pre-processing for {reader.title}: {preprocessing.description}.")
        for image in args.images:
            if image in numbers:
                print("\n".join(number_text(image, numbers[image], reader, args)))
    return 1 if errors else 0
