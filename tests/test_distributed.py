"""Data-parallel training: two real torchrun processes on loopback (gloo), checked against one.

Softmax regression has no dropout, so two ranks with half the batch each must end where
one process with the whole batch ends, up to float summation order; and a torchrun run
stopped by SIGTERM and resumed under torchrun must end bit-identical to an uninterrupted one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from mnistlab.data import Dataset
from mnistlab.errors import UsageError
from mnistlab.runs import checkpoint as ckpt
from mnistlab.runs.writer import RunWriter
from mnistlab.training import strategy
from mnistlab.training.ddp import TorchrunDDP
from mnistlab.training.strategy import SINGLE

# The paper's softmax recipe (1,000 steps, batch 100, SGD 0.5), seed 0: the `softmax_run` fixture's config.
ARGS = ["train", "softmax", "--seed", "0", "--threads", "1"]
# Float summation order is all that differs between 2 x 50 and 1 x 100 samples per step.
WEIGHT_TOLERANCE = 1e-5


def _torchrun(*args: str, data_dir: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "mnistlab", *args, "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip


def _finish(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out)


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> tuple[Path, dict]:
    run_dir = tmp_path_factory.mktemp("ddp") / "run"
    return run_dir, _finish(_torchrun(*ARGS, "--out", str(run_dir), "--json", data_dir=data_dir))


def test_two_ranks_match_one_process_with_the_same_global_batch(
    ddp_run: tuple[Path, dict], softmax_run: Path
) -> None:
    run_dir, summary = ddp_run
    assert summary["distributed"] | {"weights_sha256": None} == {
        "world_size": 2,
        "per_rank_batch": 50,
        "effective_batch": 100,
        "lr_rule": strategy.LR_RULE,
        "weights_sha256": None,
    }
    # (a) both ranks ended with bit-identical weights, and they are the ones rank 0 saved.
    ddp_model, _ = ckpt.load_model(run_dir, "last")
    assert summary["distributed"]["weights_sha256"] == [strategy.weights_digest(ddp_model)] * 2
    # (b) ... and they match a single process of the same effective batch.
    single_model, _ = ckpt.load_model(softmax_run, "last")
    single = ckpt.read_results(softmax_run)
    for (name, a), b in zip(ddp_model.state_dict().items(), single_model.state_dict().values(), strict=True):
        assert (a - b).abs().max().item() < WEIGHT_TOLERANCE, name
    assert summary["steps"] == single["steps"] == 1000
    assert abs(summary["test_accuracy"] - single["test_accuracy"]) <= 0.001  # 0.1 % points
    # Evaluation split over 2 ranks still counts each of the 10,000 test images once.
    assert summary["test"]["count"] == 10_000 and sum(map(sum, summary["test"]["confusion"])) == 10_000
    saved = ckpt.read_results(run_dir)
    assert (saved["test"], saved["distributed"]) == (summary["test"], summary["distributed"])
    # Only rank 0 wrote metrics: one line per logged step, none twice.
    steps = [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(50, 1001, 50))


def test_sigterm_under_torchrun_then_resume_is_bit_identical(
    ddp_run: tuple[Path, dict], tmp_path: Path, data_dir: Path
) -> None:
    reference, summary = ddp_run
    run_dir = tmp_path / "run"
    victim = _torchrun(*ARGS, "--out", str(run_dir), data_dir=data_dir)
    deadline = time.monotonic() + 120
    while not (ckpt.has_checkpoint(run_dir) and json.loads((run_dir / "state.json").read_text())["step"]):
        assert victim.poll() is None and time.monotonic() < deadline, victim.communicate()
        time.sleep(0.02)
    victim.send_signal(signal.SIGTERM)  # torchrun passes it on to both ranks
    _, err = victim.communicate(timeout=120)
    stopped_at = json.loads((run_dir / "state.json").read_text())["step"]
    assert 0 < stopped_at < 1000, err[-3000:]
    assert f"stopped by SIGTERM at step {stopped_at}/1000" in err  # both ranks stopped at one step
    # The checkpoint carries each rank's RNG state.
    rng = load_file(run_dir / f"trainer-{stopped_at:07d}.safetensors")
    assert {"rng.torch", "rng.torch.rank1"} <= set(rng)

    resumed = _finish(_torchrun("train", "softmax", "--resume", str(run_dir), "--threads", "1", "--json",
                                data_dir=data_dir))  # fmt: skip
    assert resumed["distributed"]["weights_sha256"] == summary["distributed"]["weights_sha256"]
    assert resumed["test"] == summary["test"]
    a, _ = ckpt.load_model(run_dir, "last")
    b, _ = ckpt.load_model(reference, "last")
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(x, y), name


def test_evaluation_sums_confusion_counts_exactly(mnist: Dataset) -> None:
    """The cross-rank formula, on one process: shards r::W scored separately and summed."""
    from mnistlab.evaluation.metrics import (
        confusion_counts,
        confusion_matrix,
        evaluate,
        evaluation_from_confusion,
    )
    from mnistlab.models import create_model

    torch.manual_seed(0)
    model = create_model("softmax")
    torch.nn.init.normal_(model.linear.weight, std=0.01)
    whole = evaluate(model, mnist.test)
    assert SINGLE.evaluate_split(model, mnist.test) == whole
    summed = sum(confusion_counts(model, mnist.test, shard=r, shards=3) for r in range(3))
    assert evaluation_from_confusion(summed) == whole
    assert confusion_matrix(torch.tensor([1, 1]), torch.tensor([1, 0]), 2).tolist() == [[0, 1], [0, 1]]


def test_global_batch_must_split_evenly() -> None:
    with pytest.raises(UsageError, match="divisible by the 3 processes"):
        TorchrunDDP(rank=0, world_size=3).sampler(1000, 100, seed=0)
    assert len(TorchrunDDP(rank=1, world_size=2).sampler(1000, 100, seed=0).indices(0)) == 50


def test_a_checkpoint_resumes_only_with_the_process_count_that_wrote_it() -> None:
    saved = {"torch": torch.zeros(3, dtype=torch.uint8), "torch.rank1": torch.ones(3, dtype=torch.uint8)}
    assert torch.equal(TorchrunDDP(1, 2, 1).own_rng(saved)["torch"], saved["torch.rank1"])
    assert TorchrunDDP(0, 2, 0).own_rng(saved).keys() == {"torch"}
    with pytest.raises(UsageError, match="torchrun --nproc_per_node 2"):
        SINGLE.own_rng(saved)
    with pytest.raises(UsageError, match="single process"):
        TorchrunDDP(0, 2, 0).own_rng({"torch": saved["torch"]})


def test_one_process_and_a_group_state_the_same_facts() -> None:
    """The summary's "distributed" section has one shape; a single process writes and reports."""
    assert SINGLE.describe(100) == {"world_size": 1, "per_rank_batch": 100, "effective_batch": 100,
                                    "lr_rule": strategy.LR_RULE}  # fmt: skip
    assert TorchrunDDP(1, 2).describe(100)["per_rank_batch"] == 50
    assert SINGLE.main_only(print) is print and TorchrunDDP(1, 2).main_only(print) is None
    assert isinstance(SINGLE.writer(Path("run")), RunWriter)
    assert not isinstance(TorchrunDDP(1, 2).writer(Path("run")), RunWriter)  # only rank 0 writes
    assert not isinstance(SINGLE.writer(None), RunWriter)


class _SecondOfTwo(strategy.Strategy):
    """Rank 1 of a pretend pair whose rank 0 holds `peer(t)` wherever this process holds `t`:
    the operations written once on the collectives, checked without torchrun."""

    rank, world_size, stop_poll_steps = 1, 2, 10

    def __init__(self, peer) -> None:
        self.peer = peer

    def device(self, device: torch.device) -> torch.device:
        return device

    def wrap(self, model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        return model

    def all_reduce(self, tensor: torch.Tensor) -> torch.Tensor:
        return self.peer(tensor) + tensor

    def all_gather(self, tensor: torch.Tensor) -> list[torch.Tensor]:
        return [self.peer(tensor), tensor]

    def barrier(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_the_operations_written_once_follow_from_the_collectives() -> None:
    silent, same = _SecondOfTwo(torch.zeros_like), _SecondOfTwo(lambda t: t.clone())
    # Batch statistics average the two shards: this one's (1.5, 100 %) and a peer's zeros.
    logits, y = torch.eye(2), torch.tensor([0, 1])
    assert silent.batch_stats(torch.tensor(1.5), logits, y) == (0.75, 0.5)
    # A stop is agreed every 10 steps, whichever process saw it; a single process asks every step.
    assert same.stop_requested(lambda: True, 20) and not silent.stop_requested(lambda: False, 20)
    assert not same.stop_requested(lambda: True, 25) and SINGLE.stop_requested(lambda: True, 25)
    assert _SecondOfTwo(torch.ones_like).stop_requested(lambda: False, 30)  # only the peer saw it
    # Rank 0's RNG under its own names, this process's as ".rank1"; restoring continues this one's.
    saved = silent.save_rng(torch.Generator().manual_seed(5))
    assert set(saved) == {"torch", "torch.rank1", "augment", "augment.rank1"}
    assert not saved["torch"].any() and torch.equal(saved["torch.rank1"], torch.get_rng_state())
    expected = torch.rand(3)
    generator = torch.Generator()
    silent.restore_rng(saved, generator)
    assert torch.equal(torch.rand(3), expected)
    assert torch.equal(generator.get_state(), torch.Generator().manual_seed(5).get_state())
    # Replicas' digests: one per process, and a difference is an error.
    model = torch.nn.Linear(2, 2)
    assert same.replica_digests(model) == [strategy.weights_digest(model)] * 2
    assert SINGLE.replica_digests(model) is None
    with pytest.raises(RuntimeError, match="different weights"):
        silent.replica_digests(model)
