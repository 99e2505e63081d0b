"""One cell of the report's tables as text, from one row or run of results.json.

Fractions are shown as percentages with two decimals; "–" stands for a value not there yet.
"""

from __future__ import annotations

from typing import Any


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
