"""The report's rows from finished run folders: intervals, the paper sentence, machines, ablations, the README table.

The run folders here are written by hand with chosen accuracies, so every expected number
is a closed form (t(0.975; 2) = 4.302653, t(0.975; 4) = 2.776445).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from PIL import Image

from mnistlab import visualize
from mnistlab.data import Dataset, Split
from mnistlab.fileio import atomic_write_json
from mnistlab.report import figures, run_figures
from mnistlab.report import results as report_results
from mnistlab.report.environment import Machines
from mnistlab.report.headline import ablation_markdown, headline_markdown
from mnistlab.report.html import render_html, render_markdown
from mnistlab.report.results import ReportWriter
from mnistlab.report.rows import experiment_summary
from mnistlab.report.tables import table_rows
from mnistlab.reproduce.experiments import ABLATIONS, PAPER_EXPERIMENTS, SOFTMAX_STEPS
from mnistlab.reproduce.plan import plan
from mnistlab.runs import checkpoint as ckpt

CNN = PAPER_EXPERIMENTS[2]
NO_DROPOUT = ABLATIONS[0]
EPYC = {"cpu": "AMD EPYC", "cpu_flags": ["avx2", "avx512f", "avx512_bf16"], "cpu_count": 2, "threads": 2,
        "torch": "2.13.0+cpu", "device": "cpu", "load_average_start": [0.5, 0.4, 0.3]}  # fmt: skip
AVX2_LAPTOP = {**EPYC, "cpu": "Intel Core i5", "cpu_flags": ["avx2"], "cpu_count": 4}


def finish(job, accuracy: float, runtime: dict, *, load_end=(1.0, 1.0, 1.0), milestones=()) -> None:
    """A finished run folder holding `accuracy`, as `train` would leave it (the parts the report reads)."""
    ckpt.write_run_config(job.run_dir, job.config, runtime)
    points = [{"step": s, "test_accuracy": a} for s, a in milestones]
    atomic_write_json(
        job.run_dir / ckpt.RESULTS_FILE,
        {
            "steps": job.config.steps,
            "test_accuracy": accuracy,
            "val_accuracy": accuracy,
            "train_seconds": 100.0 + job.seed,
            "test": {"errors": round(10_000 * (1 - accuracy))},
            "test_milestones": [*points, {"step": job.config.steps, "test_accuracy": accuracy}],
            "runtime": runtime,
            "load_average_end": list(load_end),
        },
    )


@pytest.fixture(autouse=True)
def _no_robustness(monkeypatch) -> None:
    """These runs are results.json files without weights; the robustness and reader sections are
    tested in test_reproduce."""
    monkeypatch.setattr(report_results, "add_robustness", lambda *args: None)
    monkeypatch.setattr(report_results, "add_reader", lambda *args: None)


def blank_data() -> Dataset:
    split = Split(torch.zeros(2, 1, 28, 28), torch.zeros(2, dtype=torch.long))
    return Dataset("mnist", [str(i) for i in range(10)], split, split, split)


def test_paper_row_has_interval_range_and_the_paper_sentence(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(figures, "figure_specs", lambda *args: [])
    jobs = plan((CNN,), (0, 1, 2), tmp_path)
    for job, accuracy in zip(jobs, (0.990, 0.992, 0.994), strict=True):
        finish(job, accuracy, EPYC)
    results = ReportWriter(tmp_path, blank_data(), (CNN,), jobs, quick=False, runtime={}).update(None)
    row = results["experiments"][0]
    half = 4.302653 * 0.002 / math.sqrt(3)
    assert row["interval95"]["low"] == pytest.approx(0.992 - half, abs=1e-9)
    assert row["interval95"]["high"] == pytest.approx(0.992 + half, abs=1e-9)
    assert (row["min_test_accuracy"], row["max_test_accuracy"]) == (0.990, 0.994)
    assert row["paper_verdict"] == "inside"
    sentence = (
        "The paper's 99.27 % is inside this 95 % interval (98.70–99.70 %, 3 seeds). "
        "Our mean 99.20 % is below the paper's 99.27 %."
    )
    assert row["paper_sentence"] == sentence
    assert row["machines"] == ["M1"] and not row["pooled_across_machines"]
    assert results["machines"]["M1"]["description"] == (
        "AMD EPYC, 2 cores, AVX2 + AVX-512 + AVX-512 BF16, torch 2.13.0+cpu, cpu"
    )
    cells = table_rows(results)[0]
    assert (cells["mean"], cells["interval"], cells["range"]) == (
        "99.20 ± 0.20 %",
        "98.70–99.70 %",
        "99.00–99.40 %",
    )
    assert cells["time"] == "s0: 100.0 s; s1: 101.0 s; s2: 102.0 s"
    markdown, page = render_markdown(results), render_html(results)
    assert sentence in markdown and sentence.replace("'", "&#x27;") in page
    assert (
        "| Deep CNN, 20,000 steps | 0 | 99.00 % | 100.0 s | M1 | threads 2, load 0.50 → 1.00 (quiet) |"
        in markdown
    )
    # The README's headline table is this table, for the same results.json.
    headline = headline_markdown(results)
    assert "| Deep CNN, 20,000 steps | 20,000 | 99.27 % | 99.20 ± 0.20 % | 98.70–99.70 % |" in headline
    assert f"- Deep CNN, 20,000 steps: {sentence}" in headline and "- Machine M1: AMD EPYC" in headline


def test_seeds_from_two_machines_are_flagged_as_pooled(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(figures, "figure_specs", lambda *args: [])
    jobs = plan((CNN,), (0, 1, 2), tmp_path)
    finish(jobs[0], 0.990, EPYC, load_end=(3.5, 2.0, 1.0))  # 3.5 > 2 cores: loaded
    finish(jobs[1], 0.991, AVX2_LAPTOP)
    results = ReportWriter(tmp_path, blank_data(), (CNN,), jobs, quick=False, runtime={}).update(None)
    row = results["experiments"][0]
    assert row["machines"] == ["M1", "M2"] and row["pooled_across_machines"]
    assert row["paper_sentence"].startswith("The paper's 99.27 % is ")
    assert table_rows(results)[0]["machine"] == "M1 + M2: POOLED across machines"
    markdown = render_markdown(results)
    assert (
        "**Deep CNN, 20,000 steps: its seeds ran on different machines (M1, M2); its mean pools them.**"
        in markdown
    )
    assert "M2: Intel Core i5, 4 cores, AVX2, torch 2.13.0+cpu, cpu" in markdown
    assert "threads 2, load 0.50 → 3.50 (loaded)" in markdown
    assert row["runs"][2]["status"] == "pending"


def test_ablation_rows_show_the_welch_difference_to_the_baseline(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(figures, "figure_specs", lambda *args: [])
    jobs = plan((CNN, NO_DROPOUT), (0, 1, 2), tmp_path)
    for job, accuracy in zip(jobs, (0.990, 0.992, 0.994, 0.980, 0.982, 0.984), strict=True):
        finish(job, accuracy, EPYC)
    results = ReportWriter(tmp_path, blank_data(), (CNN, NO_DROPOUT), jobs, quick=False, runtime={}).update(
        None
    )
    difference = results["experiments"][1]["difference"]
    half = 2.776445 * math.sqrt(2 * 0.002**2 / 3)  # equal spreads and n: Welch df = 2 (n - 1) = 4
    assert difference["difference"] == pytest.approx(-0.010)
    assert difference["interval95"]["df"] == pytest.approx(4.0)
    assert difference["interval95"]["low"] == pytest.approx(-0.010 - half, abs=1e-7)
    assert difference["method"].startswith("Welch t")
    markdown = ablation_markdown(results)
    assert "| Deep CNN, 20,000 steps (baseline) | 99.20 ± 0.20 % |" in markdown
    expected = f"{100 * (-0.010 - half):+.2f} to {100 * (-0.010 + half):+.2f} pp"
    assert f"| -1.00 pp | {expected} |" in markdown
    assert "Deep CNN, no dropout" not in headline_markdown(results)  # ablations have their own table
    assert "no dropout: keep probability 1.0 instead of 0.5 (cnn-no-dropout)" in render_html(results)


def test_the_steps_figure_pools_each_milestone_over_seeds(tmp_path: Path) -> None:
    jobs = plan((CNN, SOFTMAX_STEPS), (0, 1, 2), tmp_path)
    accuracy = {0: 0.990, 1: 0.991, 2: 0.995}
    for job in jobs:
        at = (0.9, 0.92) if job.experiment is SOFTMAX_STEPS else (0.97, 0.98)
        steps = (100, 300) if job.experiment is SOFTMAX_STEPS else (1000, 2000)
        finish(
            job,
            accuracy[job.seed],
            EPYC,
            milestones=[(s, a + job.seed / 1000) for s, a in zip(steps, at, strict=True)],
        )
    machines = Machines()
    rows = [experiment_summary(e, [j for j in jobs if j.experiment is e], tmp_path, None, machines)
            for e in (CNN, SOFTMAX_STEPS)]  # fmt: skip
    spec = run_figures.steps_spec(tmp_path, rows)
    assert spec is not None and "select nothing" in spec.caption
    softmax_panel, cnn_panel = sorted(spec.draw.args[0], key=lambda p: p["title"], reverse=True)
    assert softmax_panel["series"][0]["steps"] == [100, 300, 30_000]
    assert cnn_panel["series"][0]["steps"] == [1000, 2000, 20_000]
    assert cnn_panel["series"][0]["mean"] == pytest.approx([0.971, 0.981, 0.992])
    assert cnn_panel["series"][0]["std"][0] == pytest.approx(0.001)
    assert cnn_panel["paper"] == [(20_000, 0.9927)]
    path = tmp_path / "steps.png"
    visualize.save_figure(spec.draw(), path)
    with Image.open(path) as image:
        image.verify()
