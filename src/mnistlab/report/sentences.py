"""The report's sentences and lists around its tables: status, reductions, the paper's verdicts, machines.

Every line is computed from the results.json content only.
"""

from __future__ import annotations

from typing import Any

from mnistlab.report.cells import percent

REFRESH_SECONDS = 15  # while runs are still going, the page reloads itself to show new rows


def status_line(results: dict[str, Any]) -> str:
    runs = [run for row in results["experiments"] for run in row["runs"]]
    finished = sum(run["status"] == "finished" for run in runs)
    if results["complete"]:
        return f"Complete: all {len(runs)} runs finished (updated {results['updated']})."
    return (
        f"In progress: {finished} of {len(runs)} runs finished (updated {results['updated']}); "
        f"this page reloads every {REFRESH_SECONDS} s."
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
    lines.append(
        "no outlier sets in the reader section (its calibration and abstention are on the test split "
        "alone; `mnistlab evaluate RUN --ood` measures a run on them)"
    )
    share = results["steps_run"] / max(1, results["steps_full"])
    lines.append(
        f"{results['steps_run']:,} training steps in all instead of {results['steps_full']:,} ({100 * share:.1f} %)"
    )
    return lines


def paper_sentences(results: dict[str, Any]) -> list[str]:
    """Per paper row with a finished seed: where the paper's number lies against our interval."""
    return [
        f"{row['title']}: {row['paper_sentence']}"
        for row in results["experiments"]
        if row.get("paper_sentence")
    ]


def reference_sentences(results: dict[str, Any]) -> list[str]:
    """Per row with a published reference: what it measured and where it was published."""
    return [
        f"{row['title']}: {percent(row['reference']['accuracy'])} is {row['reference']['what']} "
        f"({row['reference']['source']})."
        for row in results["experiments"]
        if row.get("reference")
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
