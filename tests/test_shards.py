"""`reproduce --shard K/N` and run claims: processes sharing one report folder train each run once."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest

from mnistlab.cli import main
from mnistlab.commands import reproduce as reproduce_command
from mnistlab.data import Dataset
from mnistlab.errors import UsageError
from mnistlab.report import figures
from mnistlab.report import results as report_results
from mnistlab.report.reproduction import reproduce
from mnistlab.reproduce import claimed, claims
from mnistlab.reproduce.experiments import Experiment
from mnistlab.reproduce.runner import Progress

TINY = (Experiment("sm", "Softmax tiny", "softmax", overrides={"steps": 20, "eval_every": 10}),)


@pytest.fixture()
def counted(monkeypatch) -> list[str]:
    """The run folders that `train` is called for, in order; figures are not drawn."""
    trained: list[str] = []
    real = claimed.train

    def train(config, data, *, run_dir, **kwargs):
        trained.append(Path(run_dir).name)
        return real(config, data, run_dir=run_dir, **kwargs)

    monkeypatch.setattr(claimed, "train", train)
    monkeypatch.setattr(figures, "figure_specs", lambda *args: [])
    return trained


def test_shard_parsing_and_slices() -> None:
    assert claims.parse_shard("0/4") == (0, 4) and claims.parse_shard("3/4") == (3, 4)
    for bad in ("4/4", "1/0", "-1/4", "a/b", "2", "1/2/3", ""):
        with pytest.raises(UsageError, match=r"--shard must be K/N .*SLURM_ARRAY_TASK_ID"):
            claims.parse_shard(bad)
    assert claims.shard_indices(10, (1, 3)) == [1, 4, 7]
    slices = [claims.shard_indices(10, (k, 3)) for k in range(3)]
    assert sorted(i for s in slices for i in s) == list(range(10))  # disjoint, covering
    assert claims.shard_indices(4, None) == [0, 1, 2, 3]


def test_a_claim_is_exclusive_until_released(tmp_path: Path) -> None:
    first = claims.claim(tmp_path / "run")
    assert first is not None and claims.claim(tmp_path / "run") is None  # held by a live process: us
    assert claims.holder(tmp_path / "run") == f"{socket.gethostname()} pid {os.getpid()}"
    first.release()
    again = claims.claim(tmp_path / "run")
    assert again is not None and again.owner["token"] != first.owner["token"]
    first.release()  # not its claim any more: nothing happens
    assert claims.read_claim(tmp_path / "run") == again.owner


def test_without_hard_links_a_claim_is_still_exclusive(tmp_path: Path, monkeypatch) -> None:
    def no_link(*args):
        raise PermissionError("no hard links here")

    monkeypatch.setattr(claims.os, "link", no_link)
    first = claims.claim(tmp_path / "run")
    assert first is not None and claims.claim(tmp_path / "run") is None
    assert claims.read_claim(tmp_path / "run") == first.owner
    first.release()
    assert claims.claim(tmp_path / "run") is not None


def _write_claim(run_dir: Path, **owner) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / claims.CLAIM_FILE).write_text(json.dumps(owner))


def test_only_a_dead_process_claim_on_this_host_is_taken_over(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_pid = int(done.stdout)  # exited: no such process (barring pid reuse within this test)
    host = socket.gethostname()
    _write_claim(tmp_path / "dead", host=host, pid=dead_pid, process_start=None, token="x")
    assert claims.claim(tmp_path / "dead") is not None
    # Our own pid, but started at another time: the pid was reused, the owner is gone.
    _write_claim(tmp_path / "reused", host=host, pid=os.getpid(), process_start="0", token="y")
    assert claims.claim(tmp_path / "reused") is not None
    _write_claim(tmp_path / "remote", host=host + "-elsewhere", pid=dead_pid, process_start=None, token="z")
    assert claims.claim(tmp_path / "remote") is None  # another host: cannot tell, never taken
    (tmp_path / "garbled").mkdir()
    (tmp_path / "garbled" / claims.CLAIM_FILE).write_text("{not json")
    assert claims.claim(tmp_path / "garbled") is None


@pytest.mark.slow
def test_each_shard_trains_only_its_slice_and_reports_the_whole_plan(
    small: Dataset, tmp_path: Path, counted: list[str]
) -> None:
    first = reproduce(small, tmp_path, experiments=TINY, seeds=(0, 1, 2, 3), shard=(1, 2))
    assert counted == ["sm-s1", "sm-s3"]
    assert not first["complete"]
    assert [r["status"] for r in first["experiments"][0]["runs"]] == [
        "pending",
        "finished",
        "pending",
        "finished",
    ]
    second = reproduce(small, tmp_path, experiments=TINY, seeds=(0, 1, 2, 3), shard=(0, 2))
    assert counted == ["sm-s1", "sm-s3", "sm-s0", "sm-s2"] and second["complete"]
    assert second["experiments"][0]["finished"] == 4


def test_a_run_claimed_by_another_live_process_is_left_to_it(
    small: Dataset, tmp_path: Path, counted: list[str]
) -> None:
    held = claims.claim(tmp_path / "runs" / "sm-s1")  # this test process plays the other process
    seen: list[Progress] = []
    results = reproduce(small, tmp_path, experiments=TINY, seeds=(0, 1), on_progress=seen.append)
    assert counted == ["sm-s0"] and not results["complete"]
    assert [p.state for p in seen if p.state != "training"] == ["finished", "elsewhere"]
    me = f"{socket.gethostname()} pid {os.getpid()}"
    assert (seen[-1].claimed_by, seen[-1].claim_file) == (me, tmp_path / "runs" / "sm-s1" / claims.CLAIM_FILE)
    run = results["experiments"][0]["runs"][1]
    assert run["status"] == "running" and run["claimed_by"] == me
    assert f"s1: training now on {run['claimed_by']}" in (tmp_path / "index.html").read_text()
    held.release()
    assert reproduce(small, tmp_path, experiments=TINY, seeds=(0, 1))["complete"]
    assert counted == ["sm-s0", "sm-s1"]
    assert not (tmp_path / "runs" / "sm-s1" / claims.CLAIM_FILE).exists()  # released after training


CHILD = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from mnistlab.cli import main
    from mnistlab.commands import reproduce as command
    from mnistlab.report import figures, results
    from mnistlab.reproduce import claimed
    from mnistlab.reproduce.experiments import Experiment

    log, args = sys.argv[1], sys.argv[2:]
    real = claimed.train

    def train(config, data, *, run_dir, **kwargs):
        with open(log, "a") as f:  # O_APPEND: one short line per write, never interleaved
            f.write(f"{os.getpid()} {Path(run_dir).name}\\n")
        return real(config, data, run_dir=run_dir, **kwargs)

    claimed.train = train
    figures.figure_specs = lambda *args: []
    results.add_robustness = lambda *args: None  # tested in test_reproduce; slow on 10,000 images
    tiny = (Experiment("sm", "Softmax tiny", "softmax", overrides={"steps": 20, "eval_every": 10}),)
    command.available_experiments = lambda **flags: tiny
    sys.exit(main(["reproduce", *args]))
    """
)


@pytest.mark.slow
def test_two_processes_on_one_plan_train_every_run_exactly_once(
    tmp_path: Path, data_dir: Path, monkeypatch
) -> None:
    out, log = tmp_path / "report", tmp_path / "trained.log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    args = ["--seeds", *map(str, range(6)), "--out", str(out), "--data-dir", str(data_dir), "--threads", "1"]
    # One process takes shard 0 of 2 (runs 0, 2, 4), the other the whole plan: they meet on
    # shard 0's runs, where only the claims keep a run from being trained twice.
    commands = [[sys.executable, "-c", CHILD, str(log), *args, *extra] for extra in (["--shard", "0/2"], [])]
    children = [subprocess.Popen(command, env=env) for command in commands]
    assert [child.wait(timeout=300) for child in children] == [0, 0]
    trained = Counter(line.split()[1] for line in log.read_text().splitlines())
    assert trained == Counter({f"sm-s{seed}": 1 for seed in range(6)})
    # Any process rebuilds the report from the finished runs, training nothing.
    monkeypatch.setattr(claimed, "train", lambda *a, **k: pytest.fail("--report-only trained"))
    monkeypatch.setattr(figures, "figure_specs", lambda *args: [])
    monkeypatch.setattr(report_results, "add_robustness", lambda *args: None)
    monkeypatch.setattr(reproduce_command, "available_experiments", lambda **flags: TINY)
    args = ["reproduce", "--report-only", "--seeds", *map(str, range(6)), "--out", str(out)]
    assert main([*args, "--data-dir", str(data_dir)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert (
        results["complete"] and [r["status"] for r in results["experiments"][0]["runs"]] == ["finished"] * 6
    )


def test_cli_refuses_a_bad_shard(tmp_path: Path, data_dir: Path, capsys) -> None:
    assert main(["reproduce", "--shard", "2/2", "--out", str(tmp_path), "--data-dir", str(data_dir)]) == 2
    assert "--shard must be K/N" in capsys.readouterr().err
    args = [
        "reproduce",
        "--shard",
        "0/2",
        "--report-only",
        "--out",
        str(tmp_path),
        "--data-dir",
        str(data_dir),
    ]
    assert main(args) == 2
