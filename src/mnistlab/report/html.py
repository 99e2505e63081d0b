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

REFRESH_SECONDS = 15  # while runs are still going, the page reloads itself to show new rows

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
"""


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
        return f"s{run['seed']}: training now" + (f" (from step {run['step']:,})" if run["step"] else "")
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


def table_rows(results: dict[str, Any]) -> list[dict[str, str]]:
    """The results table as text cells, shared by the HTML and the Markdown page."""
    return [
        {
            "key": row["key"],
            "experiment": row["title"] + (" (beyond the paper)" if row["beyond_paper"] else ""),
            "steps": steps_cell(row),
            "paper": percent(row["paper_accuracy"]),
            "mean": mean_std(row),
            "seeds": "; ".join(run_cell(run) for run in row["runs"]),
            "time": "; ".join(time_cell(run) for run in row["runs"]),
        }
        for row in results["experiments"]
    ]


COLUMNS = (
    ("experiment", "Experiment"),
    ("steps", "Steps"),
    ("paper", "Paper"),
    ("mean", "This run (mean ± std)"),
    ("seeds", "Each seed"),
    ("time", "Training wall time"),
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


def _e(text: Any) -> str:
    return html.escape(str(text))


def render_html(results: dict[str, Any]) -> str:
    """index.html: one page, its images beside it in figures/."""
    head = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>mnistlab: paper vs this run</title>",
        "" if results["complete"] else f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">',
        f"<style>{STYLE}</style></head><body>",
        "<h1>Reproducing TensorFlow's MNIST tutorials with mnistlab</h1>",
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
    body += [f"<th>{_e(title)}</th>" for _, title in COLUMNS]
    body.append("</tr></thead><tbody>")
    for cells, row in zip(table_rows(results), results["experiments"], strict=True):
        css = ' class="beyond"' if row["beyond_paper"] else ""
        body.append(f'<tr data-key="{_e(cells["key"])}"{css}>')
        body += [
            f'<td class="{name}{"" if name == "experiment" else " num"}">{_e(cells[name])}</td>'
            for name, _ in COLUMNS
        ]
        body.append("</tr>")
    body.append("</tbody></table>")
    body.append(
        "<p>Test accuracy on the 10,000 test images with the final weights. ± is the sample standard "
        "deviation over seeds. Each run's folder (<code>runs/</code>) holds its config, checkpoints, "
        "metrics and results.json; these numbers are read from those files.</p>"
    )
    for figure in results["figures"]:
        body.append(
            f'<figure><h3>{_e(figure["title"])}</h3><img src="{_e(figure["file"])}" alt="{_e(figure["title"])}">'
            f"<figcaption>{_e(figure['caption'])}</figcaption></figure>"
        )
    body.append('<h2>Environment</h2><table id="environment"><tbody>')
    body += [f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in environment_rows(results)]
    body.append("</tbody></table>")
    body.append(
        f"<p><small>Written by mnistlab {_e(__version__)} from <a href='results.json'>results.json</a>; "
        "also as <a href='results.md'>results.md</a>.</small></p></body></html>"
    )
    return "\n".join(line for line in (*head, *body) if line) + "\n"


def _md_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def render_markdown(results: dict[str, Any]) -> str:
    """results.md: the same table and figures, for a README or a terminal."""
    lines = ["# mnistlab: paper vs this run", "", status_line(results), ""]
    if results["quick"]:
        lines += ["**Reduced run (--quick)**, compared with the full reproduction:", ""]
        lines += [f"- {line}" for line in reductions(results)] + [""]
    elif results["omitted"]:
        lines += [f"Not run this time: {', '.join(results['omitted'])}.", ""]
    lines.append(_md_row([title for _, title in COLUMNS]))
    lines.append(_md_row(["---"] * len(COLUMNS)))
    lines += [_md_row([cells[name] for name, _ in COLUMNS]) for cells in table_rows(results)]
    lines += [
        "",
        "Test accuracy on the 10,000 test images; ± is the sample standard deviation over seeds.",
        "",
    ]
    for figure in results["figures"]:
        lines += [
            f"## {figure['title']}",
            "",
            f"![{figure['title']}]({figure['file']})",
            "",
            figure["caption"],
            "",
        ]
    lines += ["## Environment", ""] + [f"- {k}: {v}" for k, v in environment_rows(results)]
    return "\n".join(lines) + "\n"


def write_report(out_dir: Path, results: dict[str, Any]) -> None:
    """results.json first, then the two pages rendered from it, each replaced atomically."""
    atomic_write_json(out_dir / "results.json", results)
    atomic_write_bytes(out_dir / "results.md", render_markdown(results).encode("utf-8"))
    atomic_write_bytes(out_dir / "index.html", render_html(results).encode("utf-8"))
