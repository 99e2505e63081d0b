"""`mnistlab reproduce --jobs N`: runs in parallel processes give the sequential run's numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mnistlab.data import Dataset, Split
from mnistlab.errors import UsageError
from mnistlab.report import figures
from mnistlab.report import results as report_results
from mnistlab.report.reproduction import reproduce
from mnistlab.reproduce.experiments import Experiment
from mnistlab.reproduce.parallel import threads_per_job
from mnistlab.reproduce.runner import Progress
from mnistlab.runs import checkpoint as ckpt
from mnistlab.training.strategy import weights_digest

# Two small experiments x two seeds; the softmax runs are long enough to be stopped midway
# (at 1,000 steps, on a quiet machine, the first run once finished before the second began).
TINY = (
    Experiment("sm", "Softmax", "softmax", overrides={"steps": 4000, "eval_every": 1000, "log_every": 10}),
    Experiment("cnn", "CNN tiny", "cnn", overrides={"steps": 6, "batch_size": 10, "eval_every": 3}),
)
SEEDS = (0, 1)


@pytest.fixture(scope="module")
def small(mnist: Dataset) -> Dataset:
    """5,000 training, 500 validation and 1,000 test images: cheap to send to each worker."""
    return Dataset(
        mnist.name,
        mnist.classes,
        Split(mnist.train.images[:5000].clone(), mnist.train.labels[:5000].clone()),
        Split(mnist.val.images[:500].clone(), mnist.val.labels[:500].clone()),
        Split(mnist.test.images[:1000].clone(), mnist.test.labels[:1000].clone()),
    )


def _numbers(results: dict) -> list[tuple]:
    return [
        (
            row["key"],
            run["seed"],
            run["status"],
            run["test_accuracy"],
            run["val_accuracy"],
            run["test_errors"],
        )
        for row in results["experiments"]
        for run in row["runs"]
    ]


def _digests(out: Path) -> dict[str, str]:
    return {d.name: weights_digest(ckpt.load_model(d, "last")[0]) for d in sorted((out / "runs").iterdir())}


def test_parallel_jobs_stop_resume_and_equal_one_after_another(
    small: Dataset, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(figures, "figure_specs", lambda *args: [])  # drawn in test_reproduce
    monkeypatch.setattr(report_results, "add_reader", lambda *args: None)  # tested in test_reproduce
    monkeypatch.setattr(report_results, "add_robustness", lambda *args: None)  # and this too
    par, seq = tmp_path / "par", tmp_path / "seq"
    seen: list[Progress] = []

    def both_training() -> bool:
        return len({p.job for p in seen if p.state == "training"}) == 2

    stopped = reproduce(small, par, experiments=TINY, seeds=SEEDS, processes=2, threads=1,
                        on_progress=seen.append, should_stop=both_training)  # fmt: skip
    assert not stopped["complete"]
    statuses = [run["status"] for row in stopped["experiments"] for run in row["runs"]]
    assert statuses == ["partial", "partial", "pending", "pending"]  # the CNN runs never began
    assert sorted(p.job for p in seen if p.state == "interrupted") == [1, 2]
    assert not (par / "runs" / "cnn-s0").exists()

    seen.clear()
    parallel = reproduce(small, par, experiments=TINY, seeds=SEEDS, processes=2, threads=1,
                         on_progress=seen.append)  # fmt: skip
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # the per-run thread count the parallel runs had
    try:
        sequential = reproduce(small, seq, experiments=TINY, seeds=SEEDS)
    finally:
        torch.set_num_threads(previous)

    assert parallel["complete"] and sequential["complete"]
    assert _numbers(parallel) == _numbers(sequential)
    assert _digests(par) == _digests(seq)  # bit-identical weights, resumed runs included
    assert json.loads((par / "results.json").read_text()) == parallel
    for run_dir in (par / "runs").iterdir():  # each run records the thread count behind its numbers
        _, runtime = ckpt.read_run_config(run_dir)
        assert (runtime["threads"], runtime["jobs"]) == (1, 2)
    # One display: the parent's callback saw every run's progress, then its end.
    assert sorted(p.job for p in seen if p.state == "finished") == [1, 2, 3, 4]
    assert {p.job for p in seen if p.state == "training"} == {1, 2, 3, 4}


def test_threads_are_divided_between_jobs() -> None:
    assert [threads_per_job(8, n) for n in (1, 2, 3, 8, 16)] == [8, 4, 2, 1, 1]
    with pytest.raises(UsageError, match="--jobs"):
        threads_per_job(2, 0)
