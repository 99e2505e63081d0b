"""The report's tables as text cells, shared by index.html, results.md and the README's headline table.

Every cell is computed from the results.json content only.
"""

from __future__ import annotations

from typing import Any

from mnistlab.report.environment import describe_load

REFRESH_SECONDS = 15  # while runs are still going, the page reloads itself to show new rows


def percent(fraction: float | None) -> str:
    return "–" if fraction is None else f"{100 * fraction:.2f} %"


def mean_std(row: dict[str, Any]) -> str:
    """ "92.01 ± 0.05 %" over the finished seeds; a single seed has no spread."""
    if row["mean_test_accuracy"] is None:
        return "–"
    if row["std_test_accuracy"] is None:
        return f"{100 * row['mean_test_accuracy']:.2f} % (1 seed)"
    return f"{100 * row['mean_test_accuracy']:.2f} ± {100 * row['std_test_accuracy']:.2f} %"


def run_cell(run: dict[str, Any]) -> str:
    if run["status"] == "finished":
        return f"s{run['seed']}: {percent(run['test_accuracy'])}"
    if run["status"] == "running":
        where = f" on {run['claimed_by']}" if run.get("claimed_by") else ""
        return f"s{run['seed']}: training now{where}" + (
            f" (from step {run['step']:,})" if run["step"] else ""
        )
    if run["status"] == "partial":
        return f"s{run['seed']}: stopped at step {run['step']:,} of {run['steps']:,}; rerun to continue"
    return f"s{run['seed']}: pending"


def time_cell(run: dict[str, Any]) -> str:
    return (
        f"s{run['seed']}: {run['train_seconds']:.1f} s"
        if run["status"] == "finished"
        else f"s{run['seed']}: –"
    )


def steps_cell(row: dict[str, Any]) -> str:
    if row["steps"] == row["paper_steps"]:
        return f"{row['steps']:,}"
    return f"{row['steps']:,} (paper: {row['paper_steps']:,})"


def interval_cell(interval: dict[str, Any] | None, *, signed: bool = False) -> str:
    """ "99.10–99.35 %" (or "-0.12 to +0.05 pp" for a difference); "–" without one."""
    if interval is None:
        return "–"
    if signed:
        return f"{100 * interval['low']:+.2f} to {100 * interval['high']:+.2f} pp"
    return f"{100 * interval['low']:.2f}–{100 * interval['high']:.2f} %"


def range_cell(row: dict[str, Any]) -> str:
    if row.get("min_test_accuracy") is None:
        return "–"
    return f"{100 * row['min_test_accuracy']:.2f}–{100 * row['max_test_accuracy']:.2f} %"


def machine_cell(row: dict[str, Any]) -> str:
    machines = row.get("machines") or []
    if len(machines) > 1:
        return f"{' + '.join(machines)}: POOLED across machines"
    return machines[0] if machines else "–"


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


def columns(results: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """The results table's columns: with the paper's numbers on MNIST, with published references elsewhere."""
    if is_paper_dataset(results):
        return COLUMNS
    return tuple(REFERENCE_COLUMN if key == "paper" else (key, title) for key, title in COLUMNS)


def is_paper_dataset(results: dict[str, Any]) -> bool:
    return (results.get("dataset") or {}).get("name", "mnist") == "mnist"


def reference_sentences(results: dict[str, Any]) -> list[str]:
    """Per row with a published reference: what it measured and where it was published."""
    return [
        f"{row['title']}: {percent(row['reference']['accuracy'])} is {row['reference']['what']} "
        f"({row['reference']['source']})."
        for row in results["experiments"]
        if row.get("reference")
    ]


INTERVAL_NOTE = (
    "± is the sample standard deviation over seeds; the 95 % interval is Student's t interval for "
    "the mean over seeds (mean ± t(0.975; n − 1) · std / √n), treating seeds as independent draws."
)


def paper_sentences(results: dict[str, Any]) -> list[str]:
    """Per paper row with a finished seed: where the paper's number lies against our interval."""
    return [
        f"{row['title']}: {row['paper_sentence']}"
        for row in results["experiments"]
        if row.get("paper_sentence")
    ]


def machine_lines(results: dict[str, Any]) -> list[str]:
    return [
        f"{label}: {machine['description']}" for label, machine in (results.get("machines") or {}).items()
    ]


def pooled_warnings(results: dict[str, Any]) -> list[str]:
    return [
        f"{row['title']}: its seeds ran on different machines ({', '.join(row['machines'])}); "
        "its mean pools them."
        for row in results["experiments"]
        if row.get("pooled_across_machines")
    ]


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
    "Each ablation is the paper CNN's config with one override (report/experiments.py, ABLATIONS), "
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


def reductions(results: dict[str, Any]) -> list[str]:
    """What a --quick report left out, in words."""
    lines = [
        f"{row['title']}: {row['steps']:,} steps instead of {row['paper_steps']:,}"
        for row in results["experiments"]
        if row["steps"] != row["paper_steps"]
    ]
    if results["seeds"] != results["paper_seeds"]:
        seeds = ", ".join(map(str, results["seeds"]))
        lines.append(
            f"seed{'s' if len(results['seeds']) > 1 else ''} {seeds} only, instead of {', '.join(map(str, results['paper_seeds']))}"
        )
    lines += [f"{title}: not run" for title in results["omitted"]]
    lines.append("no robustness section (each model on the corrupted test split)")
    share = results["steps_run"] / max(1, results["steps_full"])
    lines.append(
        f"{results['steps_run']:,} training steps in all instead of {results['steps_full']:,} ({100 * share:.1f} %)"
    )
    return lines


def status_line(results: dict[str, Any]) -> str:
    runs = [run for row in results["experiments"] for run in row["runs"]]
    finished = sum(run["status"] == "finished" for run in runs)
    if results["complete"]:
        return f"Complete: all {len(runs)} runs finished (updated {results['updated']})."
    return (
        f"In progress: {finished} of {len(runs)} runs finished (updated {results['updated']}); "
        f"this page reloads every {REFRESH_SECONDS} s."
    )


def environment_rows(results: dict[str, Any]) -> list[tuple[str, str]]:
    return [(str(k), str(v)) for k, v in sorted(results["environment"].items())]


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
