"""The report's pages, rendered from its results.json content only: index.html and results.md.

Every number shown comes from the `results` dictionary that is written next to the pages as
results.json, itself read from each run's own results.json.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mnistlab import __version__
from mnistlab.fileio import atomic_write_bytes, atomic_write_json
from mnistlab.report.reader_tables import (
    CALIBRATION_COLUMNS,
    CALIBRATION_NOTE,
    OUTLIER_COLUMNS,
    OUTLIER_NOTE,
    calibration_rows,
    outlier_rows,
)
from mnistlab.report.sentences import (
    REFRESH_SECONDS,
    machine_lines,
    paper_sentences,
    pooled_warnings,
    reductions,
    reference_sentences,
    status_line,
)
from mnistlab.report.tables import (
    ABLATION_COLUMNS,
    ABLATION_NOTE,
    INTERVAL_NOTE,
    LOAD_NOTE,
    NEVER_FIRING_NOTE,
    ROBUSTNESS_NOTE,
    RUN_COLUMNS,
    ablation_rows,
    columns,
    environment_rows,
    is_paper_dataset,
    never_firing_rows,
    robustness_columns,
    robustness_rows,
    run_rows,
    table_rows,
)

STYLE = """
body { font: 15px/1.5 system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.35em 0.7em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.beyond td { background: #f6fbff; }
.banner { padding: 0.8em 1em; border-radius: 6px; margin: 1em 0; }
.quick { background: #fff4d6; border: 1px solid #e0b84a; }
.progress { background: #e8f1ff; border: 1px solid #8fb3e8; }
.done { background: #e9f7ea; border: 1px solid #86c48b; }
figure { margin: 2em 0; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; }
.warning { color: #a00; font-weight: bold; }
"""

NEVER_FIRING_LAYERS = (("experiment", "Experiment"), ("conv1", "conv1"), ("conv2", "conv2"), ("fc1", "fc1"),
                       ("total", "All ReLU units"))  # fmt: skip


def _e(text: Any) -> str:
    return html.escape(str(text))


def _dataset_title(results: dict[str, Any]) -> str:
    return "MNIST" if is_paper_dataset(results) else results["dataset"]["title"]


def page_title(results: dict[str, Any]) -> str:
    if is_paper_dataset(results):
        return "mnistlab: paper vs this run"
    return f"mnistlab: the paper's experiments on {_dataset_title(results)}"


def heading(results: dict[str, Any]) -> str:
    if is_paper_dataset(results):
        return "Reproducing TensorFlow's MNIST tutorials with mnistlab"
    return f"TensorFlow's MNIST tutorials, run on {_dataset_title(results)} (the paper has no numbers for it)"


def test_images(results: dict[str, Any]) -> str:
    sizes = (results.get("dataset") or {}).get("sizes") or {}
    return f"{sizes.get('test', 10_000):,} {_dataset_title(results)} test images"


def render_html(results: dict[str, Any]) -> str:
    """index.html: one page, its images beside it in figures/."""
    head = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_e(page_title(results))}</title>",
        "" if results["complete"] else f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">',
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{_e(heading(results))}</h1>",
        f'<p class="banner {"done" if results["complete"] else "progress"}" id="status">'
        f"{_e(status_line(results))}</p>",
    ]
    if results["quick"]:
        items = "".join(f"<li>{_e(line)}</li>" for line in reductions(results))
        head.append(
            '<div class="banner quick" id="quick"><strong>Reduced run (--quick): these numbers are a first '
            "look, not the paper's experiments.</strong> Compared with the full reproduction:"
            f"<ul>{items}</ul>Run <code>mnistlab reproduce</code> without --quick for the real numbers.</div>"
        )
    elif results["omitted"]:
        head.append(f'<p class="banner quick">Not run this time: {_e(", ".join(results["omitted"]))}.</p>')
    body = ["<h2>Paper vs this run</h2>", '<table id="results"><thead><tr>']
    body += [f"<th>{_e(title)}</th>" for _, title in columns(results)]
    body.append("</tr></thead><tbody>")
    for cells, row in zip(table_rows(results), results["experiments"], strict=True):
        css = ' class="beyond"' if row["beyond_paper"] else ""
        body.append(f'<tr data-key="{_e(cells["key"])}"{css}>')
        body += [
            f'<td class="{name}{"" if name == "experiment" else " num"}">{_e(cells[name])}</td>'
            for name, _ in columns(results)
        ]
        body.append("</tr>")
    body.append("</tbody></table>")
    body.append(
        f"<p>Test accuracy on the {_e(test_images(results))} with the final weights. "
        f"{_e(INTERVAL_NOTE)} Each run's folder (<code>runs/</code>) holds its config, checkpoints, "
        "metrics and results.json; these numbers are read from those files. Machines: see "
        '<a href="#where">where each number was made</a>.</p>'
    )
    body += _html_list("paper", paper_sentences(results))
    body += _html_list("references", reference_sentences(results))
    body += _html_list("pooled", pooled_warnings(results), css="warning")
    ablations = ablation_rows(results)
    if ablations:
        body.append("<h2>Ablations of the paper's choices</h2>")
        body += _html_table("ablations", ABLATION_COLUMNS, ablations)
        body.append(f"<p>{_e(ABLATION_NOTE)}</p>")
    never = never_firing_rows(results)
    if never:
        body.append("<h3>ReLU units that never fire</h3>")
        body += _html_table("never-firing", NEVER_FIRING_LAYERS, never)
        body.append(f"<p>{_e(NEVER_FIRING_NOTE)}</p>")
    robust = robustness_rows(results)
    if robust:
        body.append("<h2>How well each model reads corrupted images</h2>")
        body += _html_table("robustness", robustness_columns(results), robust)
        body.append(f"<p>{_e(ROBUSTNESS_NOTE)}</p>")
    for level, title, name, table_columns, rows, note in reader_sections(results):
        body.append(f"<h{level}>{_e(title)}</h{level}>")
        body += [*_html_table(name, table_columns, rows), f"<p>{_e(note)}</p>"]
    for figure in results["figures"]:
        body.append(
            f'<figure><h3>{_e(figure["title"])}</h3><img src="{_e(figure["file"])}" alt="{_e(figure["title"])}">'
            f"<figcaption>{_e(figure['caption'])}</figcaption></figure>"
        )
    body.append('<h2 id="where">Where each number was made</h2>')
    body += _html_list("machines", machine_lines(results))
    body += _html_table("runs", RUN_COLUMNS, run_rows(results))
    body.append(f"<p>{_e(LOAD_NOTE)}</p>")
    body.append('<h3>This invocation (the process that wrote this page)</h3><table id="environment"><tbody>')
    body += [f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in environment_rows(results)]
    body.append("</tbody></table>")
    body.append(
        f"<p><small>Written by mnistlab {_e(__version__)} from <a href='results.json'>results.json</a>; "
        "also as <a href='results.md'>results.md</a>.</small></p></body></html>"
    )
    return "\n".join(line for line in (*head, *body) if line) + "\n"


def reader_sections(results: dict[str, Any]) -> list[tuple[int, str, str, Any, list[dict[str, str]], str]]:
    """(heading level, title, table id, columns, rows, note) of the reader's tables that have rows."""
    sections = []
    calibration = calibration_rows(results)
    if calibration:
        title = "How sure each model is, and when it refuses (test split)"
        sections.append((2, title, "calibration", CALIBRATION_COLUMNS, calibration, CALIBRATION_NOTE))
    refused = outlier_rows(results)
    if refused:
        title = "What each model refuses: the outlier sets"
        sections.append((3, title, "outliers", OUTLIER_COLUMNS, refused, OUTLIER_NOTE))
    return sections


def _html_list(name: str, lines: Sequence[str], css: str = "") -> list[str]:
    if not lines:
        return []
    items = "".join(f"<li>{_e(line)}</li>" for line in lines)
    css_attribute = f' class="{css}"' if css else ""
    return [f'<ul id="{name}"{css_attribute}>{items}</ul>']


def _html_table(name: str, columns: Sequence[tuple[str, str]], rows: Sequence[dict[str, str]]) -> list[str]:
    out = [
        f'<table id="{name}"><thead><tr>',
        *(f"<th>{_e(title)}</th>" for _, title in columns),
        "</tr></thead><tbody>",
    ]
    for cells in rows:
        out.append(
            "<tr>"
            + "".join(f'<td class="{key}">{_e(cells.get(key, "–"))}</td>' for key, _ in columns)
            + "</tr>"
        )
    out.append("</tbody></table>")
    return out


def _md_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def markdown_table(columns: Sequence[tuple[str, str]], rows: Sequence[dict[str, str]]) -> list[str]:
    return [
        _md_row([title for _, title in columns]),
        _md_row(["---"] * len(columns)),
        *(_md_row([cells.get(key, "–") for key, _ in columns]) for cells in rows),
    ]


def render_markdown(results: dict[str, Any]) -> str:
    """results.md: the same table and figures, for a README or a terminal."""
    lines = [f"# {page_title(results)}", "", status_line(results), ""]
    if results["quick"]:
        lines += ["**Reduced run (--quick)**, compared with the full reproduction:", ""]
        lines += [f"- {line}" for line in reductions(results)] + [""]
    elif results["omitted"]:
        lines += [f"Not run this time: {', '.join(results['omitted'])}.", ""]
    lines += markdown_table(columns(results), table_rows(results))
    lines += ["", f"Test accuracy on the {test_images(results)}. {INTERVAL_NOTE}", ""]
    lines += [f"- {line}" for line in paper_sentences(results)]
    lines += [f"- {line}" for line in reference_sentences(results)]
    lines += [f"- **{line}**" for line in pooled_warnings(results)]
    ablations = ablation_rows(results)
    if ablations:
        lines += ["", "## Ablations of the paper's choices", "", *markdown_table(ABLATION_COLUMNS, ablations)]
        lines += ["", ABLATION_NOTE]
    never = never_firing_rows(results)
    if never:
        lines += ["", "### ReLU units that never fire", "", *markdown_table(NEVER_FIRING_LAYERS, never)]
        lines += ["", NEVER_FIRING_NOTE]
    robust = robustness_rows(results)
    if robust:
        lines += ["", "## How well each model reads corrupted images", ""]
        lines += [*markdown_table(robustness_columns(results), robust), "", ROBUSTNESS_NOTE]
    for level, title, _, table_columns, rows, note in reader_sections(results):
        lines += ["", f"{'#' * level} {title}", "", *markdown_table(table_columns, rows), "", note]
    lines.append("")
    for figure in results["figures"]:
        lines += [
            f"## {figure['title']}",
            "",
            f"![{figure['title']}]({figure['file']})",
            "",
            figure["caption"],
            "",
        ]
    lines += ["## Where each number was made", ""] + [f"- {line}" for line in machine_lines(results)]
    lines += ["", *markdown_table(RUN_COLUMNS, run_rows(results)), "", LOAD_NOTE, ""]
    lines += ["### This invocation (the process that wrote this page)", ""]
    lines += [f"- {k}: {v}" for k, v in environment_rows(results)]
    return "\n".join(lines) + "\n"


def write_report(out_dir: Path, results: dict[str, Any]) -> None:
    """results.json first, then the two pages rendered from it, each replaced atomically."""
    atomic_write_json(out_dir / "results.json", results)
    atomic_write_bytes(out_dir / "results.md", render_markdown(results).encode("utf-8"))
    atomic_write_bytes(out_dir / "index.html", render_html(results).encode("utf-8"))
