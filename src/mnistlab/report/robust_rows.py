"""The report's robustness section: every model of the table on the corrupted test split.

Each finished run of every row except the ablations is evaluated on the test split under
each corruption of `mnistlab.evaluation.corruptions` at the default severity (`mnistlab.evaluation.robustness`,
the numbers `mnistlab evaluate RUN --robustness` prints). A run's result is cached under
the report's analysis folder, keyed by its results.json, so a rerun evaluates only new runs;
the corrupted test split is built once per report update, and only when a run needs it.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mnistlab.data.splits import Split
from mnistlab.evaluation.corruptions import DEFAULT_SEED, DEFAULT_SEVERITY
from mnistlab.evaluation.robustness import corrupted_splits, robustness_on
from mnistlab.fileio import atomic_write_json
from mnistlab.report.rows import ANALYSIS_DIR, cached, results_digest
from mnistlab.runs import checkpoint as ckpt


def _source(run_dir: Path, count: int) -> str:
    return f"{results_digest(run_dir)}:{count}:s{DEFAULT_SEVERITY}:seed{DEFAULT_SEED}"


class CorruptedTest:
    """The test split under every corruption, built on first use and then kept (~10 s for 10,000 images)."""

    def __init__(self, test: Split) -> None:
        self.clean = test
        self._corrupted: dict[str, Split] | None = None

    def get(self) -> dict[str, Split]:
        if self._corrupted is None:
            self._corrupted = corrupted_splits(self.clean, severity=DEFAULT_SEVERITY, seed=DEFAULT_SEED)
        return self._corrupted


def add_robustness(rows: Sequence[dict[str, Any]], out_dir: Path, test: CorruptedTest) -> None:
    """Give each finished run of each non-ablation row its robustness result, and each row the mean over seeds (in place)."""
    for row in rows:
        if row.get("baseline"):
            continue
        finished = [run for run in row["runs"] if run["status"] == "finished"]
        for run in finished:
            run_dir = out_dir / run["run_dir"]
            source = _source(run_dir, len(test.clean))
            cache = out_dir / ANALYSIS_DIR / f"robustness-{run_dir.name}.json"
            result = cached(cache, source)
            if result is None:
                model, _ = ckpt.load_model(run_dir)
                result = robustness_on(
                    model, test.clean, test.get(), split="test", severity=DEFAULT_SEVERITY, seed=DEFAULT_SEED
                ).to_dict()
                atomic_write_json(cache, {"source": source, "result": result})
            run["robustness"] = result
        if finished:
            row["robustness"] = _row_mean([run["robustness"] for run in finished])


def _row_mean(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean over seeds of each accuracy, with the per-seed means over corruptions kept for the table."""
    names = list(results[0]["corruptions"])
    return {
        "seeds": len(results),
        "split": results[0]["split"],
        "severity": results[0]["severity"],
        "clean": statistics.fmean(r["clean"] for r in results),
        "mean": statistics.fmean(r["mean"] for r in results),
        "mean_each_seed": [r["mean"] for r in results],
        "corruptions": {n: statistics.fmean(r["corruptions"][n] for r in results) for n in names},
    }
