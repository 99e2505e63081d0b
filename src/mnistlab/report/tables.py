"""The report's tables as text cells, shared by index.html, results.md and the README's headline table.

Each table is its columns (key, heading), its rows (one dict of cells per row) and the note
printed under it: the results table, the runs with their machines, the ablations, the
never-firing units and the robustness section. Every cell is computed from the results.json
content only (`cells`).
"""

from __future__ import annotations

from typing import Any

from mnistlab.report.cells import (
    interval_cell,
    machine_cell,
    mean_std,
    percent,
    range_cell,
    run_cell,
    steps_cell,
    time_cell,
)
from mnistlab.report.environment import describe_load

COLUMNS = (
    ("experiment", "Experiment"),
    ("steps", "Steps"),
    ("paper", "Paper"),
    ("mean", "This run (mean ± std)"),
    ("interval", "95 % interval of the mean"),
    ("seeds", "Each seed"),
    ("range", "Min–max"),
    ("time", "Training wall time"),
    ("machine", "Machine"),
)


# Off MNIST the paper has no numbers: its column gives way to published numbers for the same model.
REFERENCE_COLUMN = ("reference", "Published (same model)")


def table_rows(results: dict[str, Any]) -> list[dict[str, str]]:
    """The results table as text cells, shared by the HTML and the Markdown page."""
    return [
        {
            "key": row["key"],
            "experiment": row["title"] + (" (beyond the paper)" if row["beyond_paper"] else ""),
            "steps": steps_cell(row),
            "paper": percent(row["paper_accuracy"]),
            "reference": percent((row.get("reference") or {}).get("accuracy")),
            "mean": mean_std(row),
            "interval": interval_cell(row.get("interval95")),
            "seeds": "; ".join(run_cell(run) for run in row["runs"]),
            "range": range_cell(row),
            "time": "; ".join(time_cell(run) for run in row["runs"]),
            "machine": machine_cell(row),
        }
        for row in results["experiments"]
    ]


def columns(results: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """The results table's columns: with the paper's numbers on MNIST, with published references elsewhere."""
    if is_paper_dataset(results):
        return COLUMNS
    return tuple(REFERENCE_COLUMN if key == "paper" else (key, title) for key, title in COLUMNS)


def is_paper_dataset(results: dict[str, Any]) -> bool:
    return (results.get("dataset") or {}).get("name", "mnist") == "mnist"


INTERVAL_NOTE = (
    "± is the sample standard deviation over seeds; the 95 % interval is Student's t interval for "
    "the mean over seeds (mean ± t(0.975; n − 1) · std / √n), treating seeds as independent draws."
)


RUN_COLUMNS = (
    ("experiment", "Experiment"),
    ("seed", "Seed"),
    ("test", "Test"),
    ("time", "Wall time"),
    ("machine", "Machine"),
    ("load", "Threads, 1-min load at start → end"),
)


def run_rows(results: dict[str, Any]) -> list[dict[str, str]]:
    """Every finished run with where it was made: machine, threads and load."""
    return [
        {
            "experiment": row["title"],
            "seed": str(run["seed"]),
            "test": percent(run["test_accuracy"]),
            "time": f"{run['train_seconds']:.1f} s",
            "machine": run["environment"]["machine"],
            "load": describe_load(run["environment"]),
        }
        for row in results["experiments"]
        for run in row["runs"]
        if run["status"] == "finished" and "environment" in run
    ]


LOAD_NOTE = (
    "A run is marked loaded when the 1-minute load average at its start or end exceeded the core "
    "count: other processes then competed for the cores, which inflates wall times; accuracies "
    "depend only on the config and the thread count."
)


def environment_rows(results: dict[str, Any]) -> list[tuple[str, str]]:
    return [(str(k), str(v)) for k, v in sorted(results["environment"].items())]


ABLATION_COLUMNS = (
    ("ablation", "Ablation (one change to the paper CNN)"),
    ("mean", "Test (mean ± std)"),
    ("seeds", "Each seed"),
    ("difference", "Difference to the paper CNN"),
    ("interval", "95 % interval of the difference"),
)


def ablation_rows(results: dict[str, Any]) -> list[dict[str, str]]:
    """The ablation table: each ablation row against its baseline, the baseline first."""
    rows = results["experiments"]
    ablations = [row for row in rows if row.get("baseline")]
    baselines = {row["key"]: row for row in rows}
    cells = []
    for key in dict.fromkeys(row["baseline"] for row in ablations):
        if key in baselines:
            base = baselines[key]
            cells.append({"key": key, "ablation": f"{base['title']} (baseline)", "mean": mean_std(base),
                          "seeds": "; ".join(run_cell(r) for r in base["runs"]), "difference": "–",
                          "interval": "–"})  # fmt: skip
    for row in ablations:
        diff = row.get("difference") or {}
        value = diff.get("difference")
        cells.append(
            {
                "key": row["key"],
                "ablation": f"{row['change']} ({row['key']})",
                "mean": mean_std(row),
                "seeds": "; ".join(run_cell(r) for r in row["runs"]),
                "difference": "–" if value is None else f"{100 * value:+.2f} pp",
                "interval": interval_cell(diff.get("interval95"), signed=True),
            }
        )
    return cells


ABLATION_NOTE = (
    "Each ablation is the paper CNN's config with one override (src/mnistlab/reproduce/experiments.py, ABLATIONS), "
    "at the same steps and seeds. Difference: ablation mean minus baseline mean, in percentage points; "
    "its 95 % interval is Welch's t interval (unequal variances, Welch–Satterthwaite degrees of freedom)."
)


def never_firing_rows(results: dict[str, Any]) -> list[dict[str, str]]:
    """Per row with counts: the mean over seeds of never-firing ReLU units per layer."""
    cells = []
    for row in results["experiments"]:
        counts = row.get("never_firing")
        if not counts:
            continue
        cell = {"experiment": row["title"]}
        for layer, c in counts.items():
            text = f"{100 * c['fraction']:.2f} % of {c['units']:,}"
            if "channels" in c:
                text += f"; channels: {c['channels_never_fire']:.1f} of {c['channels']}"
            cell[layer] = text
        cells.append(cell)
    return cells


NEVER_FIRING_NOTE = (
    "ReLU units that output 0 on every image of the validation split, from each run's final "
    "weights, mean over seeds. Convolution units are counted per (channel, position); a channel "
    "counts as never firing only if none of its positions fires."
)


def robustness_columns(results: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """Experiment, seeds, clean, mean over corruptions, then one column per corruption (in the benchmark's order)."""
    from mnistlab.evaluation.corruptions import in_benchmark_order

    measured = [row["robustness"] for row in results["experiments"] if row.get("robustness")]
    names = in_benchmark_order(list(measured[0]["corruptions"])) if measured else []
    return (("experiment", "Experiment"), ("seeds", "Seeds"), ("clean", "Clean"),
            ("mean", "Mean corrupted (each seed)"), *((n, n.replace("_", " ")) for n in names))  # fmt: skip


def robustness_rows(results: dict[str, Any]) -> list[dict[str, str]]:
    """Per row with results: the mean over seeds of its accuracy, clean and under each corruption."""
    cells = []
    for row in results["experiments"]:
        r = row.get("robustness")
        if not r:
            continue
        each = " / ".join(f"{100 * m:.2f}" for m in r["mean_each_seed"])
        cells.append(
            {
                "experiment": row["title"],
                "seeds": str(r["seeds"]),
                "clean": percent(r["clean"]),
                "mean": f"{percent(r['mean'])} ({each})" if r["seeds"] > 1 else percent(r["mean"]),
                **{name: f"{100 * value:.1f}" for name, value in r["corruptions"].items()},
            }
        )
    return cells


ROBUSTNESS_NOTE = (
    "Test split, each corruption of `mnistlab evaluate RUN --robustness` at severity 3 (seeded: the "
    "same corrupted images for every model); accuracy in %, the mean over the seeds that finished. "
    "Mean corrupted: the unweighted mean over the corruptions, as MNIST-C reports it."
)
