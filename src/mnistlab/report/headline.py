"""The README's results, generated from a reproduction's results.json (docs/results/mnist.json,
docs/results/fashion-mnist.json).

`headline_markdown` renders the headline table (every row but the ablations, with the paper's
number against each row's interval and the machines), `ablation_markdown` the ablation
table; `scripts/readme_results.py` prints them, and a test checks that the README holds
exactly this text for the committed docs/results/mnist.json; `robustness_markdown` the table of
each model on the corrupted test split.
"""

from __future__ import annotations

from typing import Any

from mnistlab.report.html import markdown_table, test_images
from mnistlab.report.sentences import (
    machine_lines,
    paper_sentences,
    pooled_warnings,
    reference_sentences,
)
from mnistlab.report.tables import (
    ABLATION_COLUMNS,
    ABLATION_NOTE,
    INTERVAL_NOTE,
    ROBUSTNESS_NOTE,
    ablation_rows,
    columns,
    is_paper_dataset,
    robustness_columns,
    robustness_rows,
    table_rows,
)


def headline_markdown(results: dict[str, Any]) -> str:
    """The headline table, the paper's numbers (or, off MNIST, published ones) against our
    intervals, and the machines."""
    keep = {row["key"] for row in results["experiments"] if not row.get("baseline")}
    rows = [cells for cells in table_rows(results) if cells["key"] in keep]
    lines = markdown_table(columns(results), rows)
    tested = "10,000 test images" if is_paper_dataset(results) else test_images(results)
    lines += ["", f"Test accuracy on the {tested} with the final weights. {INTERVAL_NOTE}", ""]
    lines += [f"- {line}" for line in paper_sentences(results)]
    lines += [f"- {line}" for line in reference_sentences(results)]
    lines += [f"- **{line}**" for line in pooled_warnings(results)]
    lines += [f"- Machine {line}" for line in machine_lines(results)]
    return "\n".join(lines) + "\n"


def ablation_markdown(results: dict[str, Any]) -> str:
    """The ablation table with its note; empty if the results hold no ablation."""
    rows = ablation_rows(results)
    if not rows:
        return ""
    return "\n".join([*markdown_table(ABLATION_COLUMNS, rows), "", ABLATION_NOTE]) + "\n"


def robustness_markdown(results: dict[str, Any]) -> str:
    """The robustness table with its note; empty if the results hold none (a --quick report)."""
    rows = robustness_rows(results)
    if not rows:
        return ""
    return "\n".join([*markdown_table(robustness_columns(results), rows), "", ROBUSTNESS_NOTE]) + "\n"
