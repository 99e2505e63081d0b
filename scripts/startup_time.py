"""Seconds mnistlab spends between `import torch` and the first optimisation step.

    MNISTLAB_DATA=../shared/data python scripts/startup_time.py [RUNS]

Each run is a fresh process of `mnistlab train cnn --recipe fast --steps 2` (into a
temporary folder) whose first `_train_step` call reads the clock; prints one line per run
and the median. Warm cache: run it twice and read the second.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile

CHILD = """
import sys, time
t0 = time.perf_counter()
import torch  # noqa: F401
t1 = time.perf_counter()
import mnistlab.training.loop as training
from mnistlab.cli import main
first = []
step = training._train_step
def timed_step(run):
    if not first:
        first.append(time.perf_counter())
    return step(run)
training._train_step = timed_step
try:
    main(["train", "cnn", "--recipe", "fast", "--steps", "2", "--out", sys.argv[1]])
except SystemExit:
    pass
print(f"{t1 - t0:.3f} {first[0] - t1:.3f}")
"""


def main(argv: list[str]) -> int:
    runs = int(argv[0]) if argv else 5
    after_torch = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as out:
            done = subprocess.run(
                [sys.executable, "-c", CHILD, f"{out}/run"], capture_output=True, text=True, check=True
            )
        torch_s, mnistlab_s = map(float, done.stdout.split()[-2:])
        after_torch.append(mnistlab_s)
        print(f"import torch {torch_s:.3f} s, then mnistlab to the first step {mnistlab_s:.3f} s")
    print(f"median after import torch: {statistics.median(after_torch):.3f} s over {runs} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
