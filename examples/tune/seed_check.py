"""A study's leading configs over more seeds, on the validation split only (never the test split).

A single study trial is one seed; the best few of a study often lie within one seed's noise
(one image of the 5,000 is 0.02 points). This trains each config file given for each seed
with `mnistlab.train(..., evaluate_test=False)` and prints the validation accuracies and
their mean, so the recipe is chosen on more than one seed without looking at the test split:

    python examples/tune/seed_check.py --seeds 0 1 2 --threads 1 A.toml B.toml

A config file holds `TrainConfig` keys, as `mnistlab tune --report` writes best.toml.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from mnistlab import load_dataset
from mnistlab.config import TrainConfig, read_config_file
from mnistlab.training.loop import train


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("configs", nargs="+", help="TOML/JSON files of TrainConfig keys")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--json", metavar="FILE", help="also write the accuracies to FILE")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    data = None
    out = {}
    for path in args.configs:
        values = read_config_file(path)
        if data is None:
            data = load_dataset(values.get("dataset", "mnist"), args.data_dir)
        accuracies = []
        for seed in args.seeds:
            t0 = time.perf_counter()
            result = train(TrainConfig.from_dict({**values, "seed": seed}), data, evaluate_test=False)
            accuracies.append(result.val_accuracy)
            print(
                f"{path} seed {seed}: val {result.val_accuracy:.2%} ({time.perf_counter() - t0:.1f} s)",
                flush=True,
            )
        out[path] = {"seeds": args.seeds, "val_accuracy": accuracies, "mean": statistics.fmean(accuracies)}
        print(f"{path}: mean val {out[path]['mean']:.2%} over seeds {args.seeds}", flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
