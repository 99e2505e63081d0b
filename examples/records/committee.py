"""Choose a committee on the validation split, then test it once (issue 25).

For each way of reading an image (plain, and `--tta`: the mean over the image and its four
one-pixel shifts), members are picked from the candidate runs by greedy forward selection on
the validation split (`mnistlab.evaluation.ensemble.select_members`), and the two committees
are compared on validation by accuracy (a tie keeps the plain reading, 5x cheaper). Only the winner
is evaluated on the test split, once; this script prints no other test number:

    python examples/records/committee.py RUN_DIR... [--json FILE] [--threads N]

Members' own validation and test accuracies are printed too (the test ones are each run's own,
as `mnistlab train` already printed them).
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from mnistlab import load_dataset
from mnistlab.evaluation.ensemble import evaluate_ensemble
from mnistlab.runs.dataset import common_dataset_record


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--json", metavar="FILE", help="also write the choice and the test result to FILE")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    data = load_dataset(common_dataset_record(args.run_dirs)["name"], args.data_dir)
    arms = {}
    for tta in (False, True):
        # Selection and the comparison both on validation: in-sample for each arm alike.
        result = evaluate_ensemble(args.run_dirs, data.val, choose_on=data.val, tta=tta)
        arms[tta] = result
        chosen = ", ".join(run for run, _ in result.members)
        print(
            f"{'tta' if tta else 'plain'}: chose {len(result.members)} of {len(args.run_dirs)} on validation "
            f"({chosen}); validation accuracy {result.accuracy:.2%}"
        )
    tta = max(arms, key=lambda a: (arms[a].accuracy, not a))
    members = [run for run, _ in arms[tta].members]
    test = evaluate_ensemble(members, data.test, tta=tta)
    print(f"chosen on validation: {'tta' if tta else 'plain'}, {len(members)} members")
    for run, accuracy in test.members:
        print(f"  {accuracy:.2%}  {run}")
    agree = test.agreement
    print(
        f"committee test accuracy {test.accuracy:.2%} ({test.evaluation.errors} errors in "
        f"{test.evaluation.count:,}); members disagree on {agree.disagree} images, the committee "
        f"is right on {agree.committee_right_there} of them ({time.perf_counter() - t0:.0f} s)"
    )
    if args.json:
        record = {
            "candidates": args.run_dirs,
            "validation": {("tta" if a else "plain"): arms[a].to_dict() for a in arms},
            "tta": tta,
            "test": test.to_dict(),
        }
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(record, f, indent=2)


if __name__ == "__main__":
    main()
