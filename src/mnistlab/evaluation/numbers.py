"""How well whole numbers are read: the seeded images of `mnistlab.data.written`, read whole.

Each image is read through `inference.number.read_number` as `predict` reads a file; a number
is read exactly when every digit is answered and right, and an abstention counts as not read.
"""

from __future__ import annotations

from mnistlab.data.splits import Split
from mnistlab.data.written import SEED, SETS, number_images
from mnistlab.errors import ImageError, UsageError
from mnistlab.inference.number import read_number
from mnistlab.reader.reader import Reader

# Each set in words, as a report's rows name it.
SET_LABELS = {
    "numbers": "2-6 digits, gaps 3-20 px",
    "four_digit": "4 digits, gaps 3-20 px",
    "touching": "2 digits touching or overlapping 1-3 px",
    "detached": "1 digit with a detached stroke",
}
# The line maker's sets the line reader is also measured on (`lines.compare`), images per set.
LINE_SETS = {"overlapping": 500, "seven_eight": 300}
LINE_SET_LABELS = {
    "overlapping": "2 digits overlapping 0-35 %",
    "seven_eight": "7-8 digits, gaps -35 % to +60 %",
}


def evaluate_numbers(reader: Reader, split: Split, sets: dict[str, int]) -> dict:
    """Per set: numbers read exactly, numbers with the right count of digits, digits read right,
    and numbers refused (some digit "not a digit"); an abstention counts as not read."""
    report = {}
    for kind, count in sets.items():
        exact = segmented = digits_right = digits = refused = 0
        for item in number_images(split, kind, count):
            digits += len(item.truth)
            try:
                reading = read_number(reader, item.image)
            except ImageError:
                continue
            read = reading.number(reader.classes, always_answer=True)
            refused += reading.abstain
            exact += not reading.abstain and read == item.truth
            if len(read) == len(item.truth):
                segmented += 1
                answered = [not d.reading.abstain for d in reading.digits]
                digits_right += sum(a and r == t for a, r, t in zip(answered, read, item.truth, strict=True))
        report[kind] = {
            "images": count,
            "exact": exact / count,
            "segmented": segmented / count,
            "digits_right": digits_right / digits,
            "refused": refused / count,
        }
    return report


def line_numbers(split: Split, sets: dict[str, int], line_sets: dict[str, int], split_name: str) -> dict:
    """The shipped line reader (`mnistlab.lines`) on the same images as `evaluate_numbers` and on
    the line maker's sets: per set, numbers read exactly and numbers refused."""
    from mnistlab.lines.compare import line_answer, made_sets, score_set, written_sets
    from mnistlab.lines.number import shipped_line_reader

    answer = line_answer(shipped_line_reader())
    items = {**written_sets(split, sets), **made_sets(split, split_name, line_sets)}
    return {
        kind: {k: v for k, v in score_set(answer, made).items() if k != "wrong"}
        for kind, made in items.items()
    }


def numbers_report(reader: Reader, split: Split | None, run_dir: str, split_name: str = "test") -> dict:
    """`evaluate_numbers` over every set of SETS, with the seed, and the line reader's
    `line_numbers` beside it (LINE_SETS added); refused before any image is made (`split` may
    then be None) when `reader` (of `run_dir`) was not trained on digits."""
    if reader.image_kind != "digits":
        raise UsageError(
            f"The numbers report reads numbers written in digits, and {run_dir} was trained on "
            f"{reader.title}; pass a run trained on digits."
        )
    return {
        "seed": SEED,
        "sets": evaluate_numbers(reader, split, SETS),
        "line_reader": line_numbers(split, SETS, LINE_SETS, split_name),
    }
