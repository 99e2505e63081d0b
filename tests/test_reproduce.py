"""`mnistlab reproduce`: the report's numbers equal the runs' results, every image exists, reruns resume."""

from __future__ import annotations

import json
import statistics
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from mnistlab.cli import main
from mnistlab.commands.progress import MAX_LINES, format_eta
from mnistlab.config import resolve_config
from mnistlab.data import Dataset, negatives, outliers
from mnistlab.errors import UsageError
from mnistlab.evaluation import trust
from mnistlab.evaluation.robustness import evaluate_robustness
from mnistlab.evaluation.trust import ood_report
from mnistlab.reader.abstention import AbstentionRule
from mnistlab.reader.calibration import read_calibration
from mnistlab.reader.confidence import calibration_metrics
from mnistlab.reader.prediction import predict_logits
from mnistlab.recipes import RECIPES
from mnistlab.report import figures, reader_rows, reader_tables, robust_rows, tables
from mnistlab.report import results as report_results
from mnistlab.report.reproduction import reproduce
from mnistlab.reproduce import claimed, experiments, runner
from mnistlab.reproduce.experiments import Experiment
from mnistlab.reproduce.plan import plan
from mnistlab.reproduce.runner import Progress
from mnistlab.runs import checkpoint as ckpt
from mnistlab.training.result import StepReport

# Tiny stand-ins for the paper's rows: the same code paths in seconds.
TINY = (
    Experiment("softmax-1k", "Softmax tiny", "softmax", overrides={"steps": 30, "eval_every": 10},
               paper_accuracy=0.9186, quick_steps=30),
    Experiment("cnn", "CNN tiny", "cnn", overrides={"steps": 8, "batch_size": 10, "eval_every": 4},
               paper_accuracy=0.9927, quick_steps=4),
)  # fmt: skip


SNAPSHOTS: dict[int, tuple[dict, str]] = {}  # job -> (results.json, index.html) when that job started


@pytest.fixture(scope="module")
def quick_report(small: Dataset, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("report")

    def snapshot(p: Progress) -> None:
        if p.state == "training" and p.job not in SNAPSHOTS:
            SNAPSHOTS[p.job] = (
                json.loads((out / "results.json").read_text()),
                (out / "index.html").read_text(),
            )

    results = reproduce(
        small,
        out,
        experiments=TINY,
        seeds=(0, 1),
        quick=True,
        runtime={"device": "cpu"},
        on_progress=snapshot,
    )
    return out, results


def test_the_page_shows_each_run_as_soon_as_it_finishes(quick_report: tuple[Path, dict]) -> None:
    _, final = quick_report
    results, page = SNAPSHOTS[3]  # the first CNN run has started; both softmax runs are done
    softmax, cnn = results["experiments"]
    assert [run["status"] for run in softmax["runs"]] == ["finished", "finished"]
    assert softmax == final["experiments"][0]
    assert [run["status"] for run in cnn["runs"]] == ["running", "pending"]
    assert "In progress: 2 of 4 runs finished" in page and 'http-equiv="refresh"' in page
    assert f"s0: {100 * softmax['runs'][0]['test_accuracy']:.2f} %" in page


class Page(HTMLParser):
    """The results table's cells by row key and cell class, and every image source."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: dict[str, dict[str, str]] = {}
        self.images: list[str] = []
        self._row: str | None = None
        self._cell: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "tr" and "data-key" in a:
            self._row = a["data-key"]
            self.cells[self._row] = {}
        elif tag == "td" and self._row is not None:
            self._cell = (a.get("class") or "").split()[0]
            self.cells[self._row][self._cell] = ""
        elif tag == "img":
            self.images.append(a["src"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._cell = None
        elif tag == "tr":
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._row is not None and self._cell is not None:
            self.cells[self._row][self._cell] += data


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def test_results_json_holds_each_runs_own_numbers(quick_report: tuple[Path, dict]) -> None:
    out, results = quick_report
    assert json.loads((out / "results.json").read_text()) == results
    assert results["complete"] and results["quick"] and results["seeds"] == [0, 1]
    for row in results["experiments"]:
        accuracies = []
        for run in row["runs"]:
            own = ckpt.read_results(out / run["run_dir"])
            assert run["test_accuracy"] == own["test_accuracy"]
            assert run["train_seconds"] == own["train_seconds"]
            accuracies.append(own["test_accuracy"])
        assert row["mean_test_accuracy"] == pytest.approx(statistics.fmean(accuracies))
        assert row["std_test_accuracy"] == pytest.approx(statistics.stdev(accuracies))
    cnn = results["experiments"][1]
    assert (cnn["steps"], cnn["paper_steps"]) == (4, 8)
    assert [run["run_dir"] for run in cnn["runs"]] == ["runs/cnn-quick-s0", "runs/cnn-quick-s1"]
    # The softmax row is not reduced, so its folder is the full run's and a full rerun reuses it.
    assert results["experiments"][0]["runs"][0]["run_dir"] == "runs/softmax-1k-s0"


def test_html_and_markdown_tables_equal_results_json(quick_report: tuple[Path, dict]) -> None:
    out, results = quick_report
    cells = parse(out / "index.html").cells
    markdown = (out / "results.md").read_text()
    assert list(cells) == [row["key"] for row in results["experiments"]]
    for row in results["experiments"]:
        mean, std = 100 * row["mean_test_accuracy"], 100 * row["std_test_accuracy"]
        expected = {
            "paper": f"{100 * row['paper_accuracy']:.2f} %",
            "mean": f"{mean:.2f} ± {std:.2f} %",
            "seeds": "; ".join(f"s{r['seed']}: {100 * r['test_accuracy']:.2f} %" for r in row["runs"]),
            "time": "; ".join(f"s{r['seed']}: {r['train_seconds']:.1f} s" for r in row["runs"]),
        }
        for name, text in expected.items():
            assert cells[row["key"]][name] == text
            assert text in markdown
    assert cells["cnn"]["steps"] == "4 (paper: 8)"


def test_every_image_on_the_page_exists(quick_report: tuple[Path, dict]) -> None:
    out, results = quick_report
    images = parse(out / "index.html").images
    assert images == [figure["file"] for figure in results["figures"]]
    assert {Path(src).name for src in images} == {
        "fig1-digits.png",
        "fig2-matrix.png",
        "fig3-softmax-weights.png",
        "cnn-filters.png",
        "curves-softmax-1k.png",
        "curves-cnn.png",
        "confusion.png",
        "misclassified.png",
    }
    for src in images:
        with Image.open(out / src) as image:
            image.verify()
        assert (out / src).stat().st_size > 1000


def test_quick_page_says_what_was_reduced(quick_report: tuple[Path, dict]) -> None:
    out, _ = quick_report
    page = (out / "index.html").read_text()
    assert "Reduced run (--quick)" in page
    assert "CNN tiny: 4 steps instead of 8" in page
    assert "seeds 0, 1 only, instead of 0, 1, 2" in page
    assert "68 training steps in all instead of 114 (59.6 %)" in page  # (30 + 4) * 2 of (30 + 8) * 3
    assert 'http-equiv="refresh"' not in page  # complete: no more reloading


def test_rerun_reuses_finished_runs(quick_report: tuple[Path, dict], small: Dataset, monkeypatch) -> None:
    out, first = quick_report
    stamps = {p: p.stat().st_mtime_ns for p in (out / "runs").glob("*/results.json")}
    monkeypatch.setattr(claimed, "train", lambda *a, **k: pytest.fail("a finished run was trained again"))
    seen: list[Progress] = []
    again = reproduce(small, out, experiments=TINY, seeds=(0, 1), quick=True, on_progress=seen.append)
    assert [p.state for p in seen] == ["reused"] * 4 and seen[-1].eta_seconds == 0
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    assert again["experiments"] == first["experiments"]
    assert [f["source"] for f in again["figures"]] == [f["source"] for f in first["figures"]]


def test_interrupted_run_resumes_to_the_uninterrupted_result(
    small: Dataset, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(figures, "figure_specs", lambda *args: [])  # tested above; slow to draw
    softmax = (Experiment("sm", "Softmax", "softmax", overrides={"steps": 40, "eval_every": 10}),)
    steps: list[int] = []

    def record(p: Progress) -> None:
        steps.append(p.step)

    stopped = reproduce(small, tmp_path / "a", experiments=softmax, seeds=(3,), on_progress=record,
                        should_stop=lambda: bool(steps) and steps[-1] >= 20)  # fmt: skip
    run = stopped["experiments"][0]["runs"][0]
    assert not stopped["complete"] and run["status"] == "partial" and run["step"] == 20
    page = (tmp_path / "a" / "index.html").read_text()
    assert "stopped at step 20 of 40" in page and 'http-equiv="refresh"' in page

    resumed = reproduce(small, tmp_path / "a", experiments=softmax, seeds=(3,))
    straight = reproduce(small, tmp_path / "b", experiments=softmax, seeds=(3,))
    assert resumed["complete"]
    a, b = resumed["experiments"][0]["runs"][0], straight["experiments"][0]["runs"][0]
    assert a["test_accuracy"] == b["test_accuracy"] and a["val_accuracy"] == b["val_accuracy"]


def test_a_folder_holding_another_run_is_refused(small: Dataset, tmp_path: Path) -> None:
    mine = Experiment("sm", "Softmax", "softmax", overrides={"steps": 5})
    ckpt.write_run_config(tmp_path / "runs" / "sm-s0", resolve_config("softmax", overrides={"steps": 9}), {})
    with pytest.raises(UsageError, match="another config"):
        reproduce(small, tmp_path, experiments=(mine,), seeds=(0,))


def test_paper_experiments_use_the_paper_hyper_parameters() -> None:
    soft1k, soft10k, cnn = experiments.PAPER_EXPERIMENTS
    assert [e.paper_accuracy for e in experiments.PAPER_EXPERIMENTS] == [0.9186, 0.9223, 0.9927]
    assert soft10k.config(0) == resolve_config("softmax", overrides={"steps": 10_000, "seed": 0})
    full = cnn.config(2)
    assert (full.steps, full.batch_size, full.optimizer, full.lr, full.seed) == (20_000, 50, "adam", 1e-4, 2)
    quick = cnn.config(2, quick=True)
    assert (quick.steps, quick.eval_every) == (400, 200)
    assert (
        quick.__class__(**{**quick.to_dict(), "steps": 20_000, "eval_every": 1000, "log_every": 100}) == full
    )
    assert soft1k.config(0, quick=True) == soft1k.config(0)


def test_beyond_paper_rows_follow_the_recipes(monkeypatch) -> None:
    monkeypatch.delitem(RECIPES, "fast", raising=False)
    monkeypatch.delitem(RECIPES, "best", raising=False)
    monkeypatch.delitem(RECIPES, "robust", raising=False)
    assert experiments.available_experiments() == (*experiments.PAPER_EXPERIMENTS, experiments.SOFTMAX_STEPS)
    with pytest.raises(UsageError, match="best"):
        experiments.available_experiments(best=True)
    monkeypatch.setitem(RECIPES, "fast", RECIPES["cnn"])
    monkeypatch.setitem(RECIPES, "best", RECIPES["cnn"])
    monkeypatch.setitem(RECIPES, "robust", RECIPES["cnn"])
    extra = experiments.available_experiments(best=True)[4:]
    assert [(e.key, e.recipe, e.beyond_paper) for e in extra] == [
        ("cnn-fast", "fast", True),
        ("cnn-robust", "robust", True),
        ("cnn-best", "best", True),
    ]


def test_rows_follow_the_dataset() -> None:
    digits = experiments.available_experiments(best=True)
    clothes = experiments.available_experiments(best=True, dataset="fashion-mnist", image_kind="objects")
    assert [e.key for e in digits][-3:] == ["cnn-fast", "cnn-robust", "cnn-best"]
    # No pen-stroke augmentations for clothing; --best runs the recipe tuned on Fashion's validation split.
    assert [(e.key, e.recipe) for e in clothes][-2:] == [("cnn-fast", "fast"), ("cnn-fashion", "fashion")]
    own = experiments.available_experiments(best=True, dataset="my-digits", image_kind="digits")
    assert own == digits


def test_eta_is_remaining_steps_times_measured_seconds_per_step() -> None:
    eta = runner.Eta(plan(TINY, (0,), "/tmp/unused"))  # softmax 30 steps, then CNN 8 steps
    assert (eta.seconds(), eta.unmeasured()) == (0, ("softmax", "cnn"))  # no guess before a measurement
    assert format_eta(eta.seconds(), eta.unmeasured()) == "estimating…"
    eta.observe(0, 10, 0.5)
    assert (eta.seconds(), eta.unmeasured()) == (20 * 0.5, ("cnn",))
    assert format_eta(eta.seconds(), eta.unmeasured()) == "~0:10 left + cnn runs, not yet timed"
    eta.observe(1, 2, 1.5)
    assert (eta.seconds(), eta.unmeasured()) == (20 * 0.5 + 6 * 1.5, ())
    assert format_eta(eta.seconds(), eta.unmeasured()) == "~0:19 left"
    eta.observe(0, 30, None)  # the softmax run finished: its measured speed stays
    assert eta.seconds() == 6 * 1.5 and format_eta(3725, ()) == "~1:02:05 left"


def test_eta_from_reports_leaves_out_each_runs_start_up() -> None:
    jobs = plan(TINY, (0, 1), "/tmp/unused")  # softmax s0, s1 (30 steps, batch 100), then CNN s0, s1

    def report(step: int, elapsed: float) -> StepReport:
        return StepReport(step=step, steps=30, loss=0.3, batch_accuracy=0.9, lr=0.5, val_accuracy=None,
                      images_per_second=step * 100 / elapsed, elapsed=elapsed)  # fmt: skip

    eta = runner.Eta(jobs)
    eta.observe_report(0, report(10, 5.0))  # start-up included: no speed yet, "estimating…"
    assert eta.seconds() == 0 and eta.unmeasured() == ("softmax", "cnn")
    eta.observe_report(0, report(20, 6.0))  # 0.1 s a step since the first report
    assert eta.seconds() == pytest.approx((10 + 30) * 0.1)
    eta.observe(0, 30, None)
    eta.observe_report(1, report(10, 5.0))  # the next run's first report keeps the kind's speed
    assert eta.seconds() == pytest.approx(20 * 0.1) and eta.unmeasured() == ("cnn",)


def test_cli_quick_writes_the_report(tmp_path: Path, data_dir: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(experiments, "PAPER_EXPERIMENTS", TINY)
    monkeypatch.setattr(figures, "figure_specs", lambda *args: [])  # drawn in the tests above
    monkeypatch.delitem(RECIPES, "fast", raising=False)
    out, data = tmp_path / "X", ["--data-dir", str(data_dir)]
    assert main(["reproduce", "--quick", "--only", "softmax-1k", "--out", str(out), *data]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["seeds"] == [0] and results["complete"] and results["omitted"][0] == "CNN tiny"
    err = capsys.readouterr().err
    assert "[1/1] Softmax tiny, seed 0: test" in err
    # Off a terminal: plain lines, at most MAX_LINES per run besides its last step (30 reports here).
    training = [line for line in err.splitlines() if ": step " in line]
    assert "\r" not in err and 0 < len(training) <= MAX_LINES + 1
    assert training[-1].startswith("[1/1] Softmax tiny, seed 0: step 30/30 | loss ")
    assert training[-1].endswith(" | all runs: ~0:00 left")
    assert main(["reproduce", "--seeds", "1", "1", "--out", str(out), *data]) == 2
    assert main(["reproduce", "--only", "cnn-huge", "--out", str(out), *data]) == 2
    assert "cnn-huge" in capsys.readouterr().err


def test_full_report_reads_each_model_on_the_corrupted_test_split(
    small: Dataset, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(trust, "OUTLIERS_PER_SET", 100)  # of 2,000: the paper CNN's forward passes cost
    monkeypatch.setattr(trust, "NEGATIVES_PER_FAMILY", 100)  # of 500, for the same reason
    results = reproduce(small, tmp_path, experiments=TINY, seeds=(0,))
    markdown = (tmp_path / "results.md").read_text()
    cells = {row["experiment"]: row for row in tables.robustness_rows(results)}
    for row in results["experiments"]:
        run = row["runs"][0]
        model, _ = ckpt.load_model(tmp_path / run["run_dir"])
        # The reference: what `mnistlab evaluate RUN --robustness` computes for the same weights.
        expected = evaluate_robustness(model, small.test)
        assert run["robustness"] == expected.to_dict()
        assert row["robustness"]["mean"] == expected.mean
        assert row["robustness"]["clean"] == pytest.approx(run["test_accuracy"])
        assert cells[row["title"]]["mean"] == f"{100 * expected.mean:.2f} %"
        assert f"| {row['title']} | 1 | {100 * expected.clean:.2f} % |" in markdown
    page = parse(tmp_path / "index.html")
    assert {"corruptions.png", "robustness.png", "corrupted-mistakes.png"} <= {
        Path(s).name for s in page.images
    }
    for name in ("corruptions.png", "robustness.png", "corrupted-mistakes.png"):
        with Image.open(tmp_path / "figures" / name) as image:
            image.verify()
    # A full report reads each run on the outlier sets too: the numbers of `evaluate RUN --ood`.
    outlier_cells = reader_tables.outlier_rows(results)
    for row in results["experiments"]:
        _, expected = _reference_reader(tmp_path / row["runs"][0]["run_dir"], small, sets=None)
        assert row["runs"][0]["reader"]["ood"] == expected
        pen = [f"pen_{family}" for family in negatives.FAMILIES]  # a digits run: the pen families too
        assert [o["outliers"] for o in expected["outliers"]] == [*outliers.MAKERS, *pen]
        for o in expected["outliers"]:
            count = 100 if o["outliers"] in outliers.MAKERS else trust.NEGATIVES_PER_FAMILY
            line = (
                f"| {row['title']} | {o['outliers'].replace('_', ' ')} | {count} | {o['auroc']:.4f} | "
                f"{100 * o['fpr_at_95_tpr']:.2f} % | {100 * o['abstained']:.2f} % |"
            )
            assert line in markdown
    assert len(outlier_cells) == len(results["experiments"]) * (
        len(outliers.MAKERS) + len(negatives.FAMILIES)
    )
    assert '<table id="outliers">' in (tmp_path / "index.html").read_text()
    # Cached by each run's results.json: a rebuilt report evaluates nothing again.
    monkeypatch.setattr(robust_rows, "robustness_on", lambda *a, **k: pytest.fail("evaluated again"))
    monkeypatch.setattr(reader_rows, "reader_summary", lambda *a, **k: pytest.fail("read again"))
    again = reproduce(small, tmp_path, experiments=TINY, seeds=(0,), report_only=True)
    for name in ("robustness", "reader"):
        assert [row[name] for row in again["experiments"]] == [row[name] for row in results["experiments"]]


def _as_json(value: object) -> object:
    return json.loads(json.dumps(value))


def _reference_reader(run_dir: Path, data: Dataset, sets: dict | None) -> tuple[dict, dict]:
    """What `evaluate RUN --calibration` (its clean split) and `--ood` compute for the run's weights."""
    model, _ = ckpt.load_model(run_dir)
    record = read_calibration(run_dir)
    logits = predict_logits(model, data.test.images)
    clean = {  # the clean split of evaluation.trust.calibration_report
        when: calibration_metrics(logits, data.test.labels, t).to_dict()
        for when, t in (("before", 1.0), ("after", record["temperature"]))
    }
    ood = ood_report(model, data, AbstentionRule.from_dict(record["rule"]), "test", None, sets=sets)
    return clean, _as_json(ood)


def test_the_report_measures_each_runs_calibration_and_abstention(
    quick_report: tuple[Path, dict], small: Dataset
) -> None:
    out, results = quick_report
    markdown = (out / "results.md").read_text()
    for row in results["experiments"]:
        run = row["runs"][0]
        clean, ood = _reference_reader(out / run["run_dir"], small, sets={})
        summary = run["reader"]
        assert summary["calibrated"] and summary["calibration"]["images"] == 1000
        for when in ("before", "after"):
            for name in ("ece", "nll", "brier", "accuracy"):
                assert summary["calibration"][when][name] == clean[when][name]
        assert summary["ood"] == ood and ood["outliers"] == []  # --quick: the test split alone
        assert summary["temperature"] == read_calibration(out / run["run_dir"])["temperature"]
        mean = row["reader"]
        each = [run["reader"]["calibration"]["after"]["ece"] for run in row["runs"]]
        assert mean["ece_after_each_seed"] == each
        assert mean["calibration"]["after"]["ece"] == pytest.approx(statistics.fmean(each))
        abstained = statistics.fmean(run["reader"]["ood"]["inside"]["abstained"] for run in row["runs"])
        assert mean["inside"]["abstained"] == pytest.approx(abstained)
        before, after = mean["calibration"]["before"], mean["calibration"]["after"]
        cells = (
            f"| {row['title']} | 2 | {mean['temperature']:.3f} | {100 * before['ece']:.2f} → "
            f"{100 * after['ece']:.2f} % ({' / '.join(f'{100 * e:.2f}' for e in each)}) | "
            f"{before['nll']:.4f} → {after['nll']:.4f} |"
        )
        assert cells in markdown
    page = (out / "index.html").read_text()
    assert '<table id="calibration">' in page and '<table id="outliers">' not in page
    assert "no outlier sets in the reader section" in page


def test_quick_report_leaves_robustness_out_and_says_so(quick_report: tuple[Path, dict]) -> None:
    out, results = quick_report
    assert not any("robustness" in row for row in results["experiments"])
    assert "no robustness section" in (out / "index.html").read_text()


def test_fashion_report_has_no_paper_column_but_the_publishers_reference(
    tmp_path: Path, data_dir: Path, monkeypatch
) -> None:
    monkeypatch.setattr(experiments, "PAPER_EXPERIMENTS", TINY)
    monkeypatch.setattr(report_results, "add_reader", lambda *args: None)  # measured in the test below
    monkeypatch.setattr(report_results, "add_robustness", lambda *args: None)  # measured on MNIST above
    all_figures = figures.figure_specs  # the dataset's two figures; the runs' figures are drawn above
    monkeypatch.setattr(figures, "figure_specs", lambda *args: all_figures(*args)[:2])
    monkeypatch.delitem(RECIPES, "fast", raising=False)
    monkeypatch.delitem(RECIPES, "robust", raising=False)
    out = tmp_path / "fashion"
    args = [
        "reproduce",
        "--seeds",
        "0",
        "--only",
        "softmax-1k",
        "cnn",
        "--dataset",
        "fashion-mnist",
        "--out",
        str(out),
        "--data-dir",
        str(data_dir),
    ]
    assert main(args) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["dataset"]["name"] == "fashion-mnist" and results["dataset"]["classes"][9] == "Ankle boot"
    softmax, cnn = results["experiments"]
    assert (
        softmax["paper_accuracy"] is None
        and softmax["paper_verdict"] is None
        and softmax["reference"] is None
    )
    assert (
        cnn["reference"]["accuracy"] == 0.916
        and "zalandoresearch/fashion-mnist" in cnn["reference"]["source"]
    )
    page = parse(out / "index.html")
    assert page.cells["cnn"]["reference"] == "91.60 %" and page.cells["softmax-1k"]["reference"] == "–"
    assert all("paper" not in cells for cells in page.cells.values())
    markdown = (out / "results.md").read_text()
    assert markdown.startswith("# mnistlab: the paper's experiments on Fashion-MNIST")
    assert "| Published (same model) |" in markdown and "| Paper |" not in markdown
    assert "Test accuracy on the 10,000 Fashion-MNIST test images" in markdown
    assert "Figure 1: Fashion-MNIST images" in markdown and "(label 1, Trouser)" in markdown
    for row in results["experiments"]:  # each run's saved config names the data it trained on
        saved = json.loads((out / row["runs"][0]["run_dir"] / "config.json").read_text())
        assert saved["config"]["dataset"] == "fashion-mnist"
    # A full report, yet no robustness section: its corruptions model pen strokes, not clothing.
    assert not any("robustness" in row for row in results["experiments"])
    assert "corrupted images" not in markdown


def test_a_fashion_report_reads_mnist_digits_among_its_outliers(
    tmp_path: Path, data_dir: Path, monkeypatch, capsys
) -> None:
    monkeypatch.setattr(experiments, "PAPER_EXPERIMENTS", TINY)
    monkeypatch.setattr(figures, "figure_specs", lambda *args: [])  # drawn in the tests above
    out = tmp_path / "fashion"
    data = ["--dataset", "fashion-mnist", "--data-dir", str(data_dir)]
    assert main(["reproduce", "--seeds", "0", "--only", "softmax-1k", "--out", str(out), *data]) == 0
    (row,) = json.loads((out / "results.json").read_text())["experiments"]
    run_dir = out / row["runs"][0]["run_dir"]
    capsys.readouterr()
    # The reference: what `mnistlab evaluate RUN --ood` prints for the same run.
    assert main(["evaluate", str(run_dir), "--ood", "--json", "--data-dir", str(data_dir)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [o["outliers"] for o in printed["outliers"]] == ["mnist", *outliers.MAKERS]
    assert printed["outliers"][0]["images"] == 10_000  # MNIST's test split
    summary = row["runs"][0]["reader"]
    assert summary["ood"] == {k: printed[k] for k in ("split", "rule", "inside", "outliers")}
    assert summary["calibration"]["images"] == 10_000 and summary["calibrated"]
    markdown = (out / "results.md").read_text()
    mnist = printed["outliers"][0]
    assert f"| {row['title']} | mnist | 10,000 | {mnist['auroc']:.4f} |" in markdown
