"""One training engine for every model: the paper's loop, made resumable and observable.

`train` draws batches from uint8 tensors, normalises them on the fly, validates every
`eval_every` steps, keeps a "best by validation" and a "last" checkpoint (after each validation
and every `checkpoint_seconds`), and ends with a test evaluation. It never prints: it reports
through `on_report`, and stops early (saving a checkpoint) when `should_stop()` turns true,
which the CLI wires to SIGINT/SIGTERM.

Alone or in torchrun's data-parallel group is the `Strategy`'s business (`training.strategy`),
what lands in the run folder the `Writer`'s (`runs.writer`): the loop reads the same either way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mnistlab.config import TrainConfig
from mnistlab.data.batches import BatchSampler
from mnistlab.data.splits import Dataset, Split, normalize
from mnistlab.evaluation.metrics import Evaluation
from mnistlab.models import create_model
from mnistlab.models.heads import reading_view
from mnistlab.reader.calibration import calibration_content, fit_calibration
from mnistlab.runs.checkpoint import TrainingState, has_checkpoint, load_checkpoint
from mnistlab.runs.writer import Writer
from mnistlab.runtime import autocast, check_precision, describe_precision, load_average, prepare_model
from mnistlab.training.clock import Clock
from mnistlab.training.exposure import FeatureTap, feature_tap, outlier_term, run_pool, step_inputs
from mnistlab.training.optim import Optimizer, build_optimizer, learning_rate, match_layouts
from mnistlab.training.result import StepReport, TrainResult, summarize
from mnistlab.training.strategy import SINGLE, Strategy


@dataclass
class _Run:
    """What one training run holds while it runs: built by `_set_up`, advanced by the loop."""

    config: TrainConfig
    strategy: Strategy
    writer: Writer
    device: torch.device
    model: nn.Module  # the weights; `forward` is the same module, DDP-wrapped under torchrun
    reading: nn.Module  # the same weights as evaluation and calibration read them (`models.heads`)
    forward: nn.Module
    optimizer: Optimizer
    scaler: torch.amp.GradScaler  # loss scaling, enabled for fp16 only
    sampler: BatchSampler
    train_split: Split
    val_split: Split
    test_split: Split
    augment_generator: torch.Generator | None
    outliers: torch.Tensor | None  # uint8 (M, 28, 28) on the device, with outlier exposure
    run_dir: Path | None
    features: FeatureTap | None = None  # the objectosphere objective's view of the last layer's input
    step: int = 0
    best_val: float = -1.0
    best_step: int = 0
    trained_seconds: float = 0.0  # by the processes before this one (from the checkpoint)
    val_accuracy: float | None = None
    test_milestones: dict[int, float] = field(default_factory=dict)  # step -> test accuracy


def _set_up(
    config: TrainConfig,
    data: Dataset,
    run_dir: Path | None,
    resume: bool,
    device: torch.device,
    runtime: dict[str, Any],
    strategy: Strategy,
    outliers: torch.Tensor | None,
) -> _Run:
    """Model, optimizer, sampler and RNG streams; restored from `run_dir` when resuming."""
    sampler = strategy.sampler(len(data.train), config.batch_size, config.seed)  # checks the batch first
    check_precision(config.precision, device)
    torch.manual_seed(config.seed)  # the same initial weights in every process
    model = create_model(config.model, num_classes=config.outputs(data.num_classes), **config.model_options)
    model = prepare_model(model.to(device))
    augment_generator = torch.Generator(device).manual_seed(config.seed + 1) if config.augmentations else None
    strategy.seed(config.seed, augment_generator)
    run = _Run(
        config=config,
        strategy=strategy,
        writer=strategy.writer(run_dir),
        device=device,
        model=model,
        reading=reading_view(model, config.outputs(data.num_classes), data.num_classes),
        forward=model,
        optimizer=build_optimizer(config, model),
        scaler=torch.amp.GradScaler(device.type, enabled=config.precision == "fp16"),
        sampler=sampler,
        train_split=data.train.to(device),
        val_split=data.val.to(device),
        test_split=data.test,  # moved to the device only when a test evaluation is due
        augment_generator=augment_generator,
        outliers=None if outliers is None else outliers.to(device),
        run_dir=run_dir,
        features=feature_tap(model, config) if outliers is not None else None,
    )
    if run_dir is not None:
        resumed = resume and has_checkpoint(run_dir)
        if resumed:
            _restore(run, run_dir)
        run.writer.start(config, runtime, data.record(), run.step if resumed else None)
    run.forward = strategy.wrap(model, device)
    return run


def _restore(run: _Run, run_dir: Path) -> None:
    state, rng = load_checkpoint(
        run_dir, model_name=run.config.model, model=run.model, optimizer=run.optimizer
    )
    match_layouts(run.optimizer)
    run.step, run.best_val, run.best_step = state.step, state.best_val_accuracy, state.best_step
    run.val_accuracy = state.extra.get("val_accuracy")
    run.trained_seconds = state.extra.get("train_seconds", 0.0)
    run.test_milestones = {int(k): v for k, v in state.extra.get("test_milestones", {}).items()}
    if "grad_scaler" in state.extra:
        run.scaler.load_state_dict(state.extra["grad_scaler"])
    run.strategy.restore_rng(rng, run.augment_generator)


def _train_step(run: _Run) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
    """One optimisation step on this process's share of the next batch: (loss, logits, labels, lr)."""
    lr = learning_rate(run.config, run.step)
    for group in run.optimizer.param_groups:
        group["lr"] = lr
    index = run.sampler.indices(run.step).to(run.device)
    x = normalize(run.train_split.images[index])  # (B, 1, 28, 28) float32 in [0, 1]
    y = run.train_split.labels[index]  # (B,)
    inputs = step_inputs(x, run.outliers, run.config, run.step, run.augment_generator)  # (B [+ O], 1, 28, 28)
    with autocast(run.config.precision, run.device):
        out = run.forward(inputs)  # (B, C), or (B + O, C) with outliers: one pass, shared BN statistics
        logits = out[: x.shape[0]]  # (B, C)
        loss = F.cross_entropy(logits, y, label_smoothing=run.config.label_smoothing)
        if run.outliers is not None:
            loss = loss + outlier_term(run.config, out, run.features, x.shape[0], run.step)
    run.optimizer.zero_grad()
    run.scaler.scale(loss).backward()
    run.scaler.step(run.optimizer)
    run.scaler.update()
    run.step += 1
    return loss, logits, y, lr


def _evaluate(run: _Run, split: Split) -> Evaluation:
    with autocast(run.config.precision, run.device):
        return run.strategy.evaluate_split(run.reading, split.to(run.device))


def _validate(run: _Run) -> None:
    """Validation accuracy now; the best weights by it are kept in best.safetensors."""
    run.val_accuracy = _evaluate(run, run.val_split).accuracy
    if run.val_accuracy > run.best_val:
        run.best_val, run.best_step = run.val_accuracy, run.step
        run.writer.save_best(run.model, run.config.model, run.step)


def _save(run: _Run, clock: Clock) -> None:
    """The "last" checkpoint: weights, optimizer, the RNG streams and the loop's counters."""
    if run.run_dir is None:
        return
    rng = run.strategy.save_rng(run.augment_generator)  # a collective under torchrun
    extra: dict[str, Any] = {
        "val_accuracy": run.val_accuracy,
        "test_milestones": {str(k): v for k, v in run.test_milestones.items()},
        "train_seconds": clock.total(),
    }
    if run.scaler.is_enabled():
        extra["grad_scaler"] = run.scaler.state_dict()
    state = TrainingState(run.step, run.best_val, run.best_step, extra)
    run.writer.save_last(run.model, run.config.model, run.optimizer, rng, state)


def train(
    config: TrainConfig,
    data: Dataset,
    *,
    run_dir: Path | str | None = None,
    resume: bool = False,
    device: torch.device | str = "cpu",
    runtime: dict[str, Any] | None = None,
    on_report: Callable[[StepReport], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    strategy: Strategy = SINGLE,
    outliers: torch.Tensor | None = None,
    evaluate_test: bool = True,  # False: the test split is never evaluated (`mnistlab tune`'s trials)
) -> TrainResult:
    """Train `config.model` on `data.train`, validating on `data.val`, testing on `data.test`.

    With `run_dir`, checkpoints, metrics and results are written there; `resume=True`
    continues from its last checkpoint and ends bit-identical to an uninterrupted run.
    With a `strategy` from `mnistlab.training.ddp.from_environment` this process is one
    of a data-parallel group; `config.batch_size` is then the global batch. `outliers`: the
    pool of `training.exposure.outlier_pool` for outlier exposure (made here when not given).
    """
    run_dir = Path(run_dir) if run_dir is not None else None
    outliers = run_pool(config, data, outliers)
    run = _set_up(config, data, run_dir, resume, torch.device(device), runtime or {}, strategy, outliers)
    report = strategy.main_only(on_report)  # one progress stream for the whole group
    run.model.train()
    clock = Clock(run.step, run.trained_seconds)
    interrupted = False
    while run.step < config.steps:
        if strategy.stop_requested(should_stop, run.step):
            interrupted = True
            break
        loss, logits, y, lr = _train_step(run)
        evaluated = run.step % config.eval_every == 0 or run.step == config.steps
        if evaluated:
            _validate(run)
        if evaluate_test and run.step in config.test_milestones and run.step < config.steps:
            # Recorded to show accuracy against steps; these select nothing.
            run.test_milestones[run.step] = _evaluate(run, run.test_split).accuracy
        if evaluated or run.step % config.log_every == 0:
            _log(run, clock, loss, logits, y, lr, evaluated, report)
        # A timed checkpoint: the processes agree on it as on a stop, whichever one's clock says so.
        if evaluated or strategy.stop_requested(lambda: clock.due(config.checkpoint_seconds), run.step):
            _save(run, clock)
            clock.saved()
    train_seconds = clock.total()
    if interrupted:
        _save(run, clock)
    return _finish(run, interrupted, train_seconds, runtime or {}, evaluate_test)


def _log(
    run: _Run,
    clock: Clock,
    loss: torch.Tensor,
    logits: torch.Tensor,
    y: torch.Tensor,
    lr: float,
    evaluated: bool,
    on_report: Callable[[StepReport], None] | None,
) -> None:
    """A progress report: one host sync, a line of metrics.jsonl, and `on_report`."""
    elapsed = clock.elapsed()
    loss_value, batch_accuracy = run.strategy.batch_stats(loss, logits, y)
    report = StepReport(
        step=run.step,
        steps=run.config.steps,
        loss=loss_value,
        batch_accuracy=batch_accuracy,
        lr=lr,
        val_accuracy=run.val_accuracy,
        images_per_second=(run.step - clock.start_step) * run.config.batch_size / max(elapsed, 1e-9),
        elapsed=elapsed,
        evaluated=evaluated,
    )
    run.writer.append_metrics(report.metrics_record())
    if on_report is not None:
        on_report(report)


def _finish(
    run: _Run, interrupted: bool, train_seconds: float, runtime: dict[str, Any], evaluate_test: bool = True
) -> TrainResult:
    """The final test evaluation (with the last weights, as the paper) and results.json."""
    test = None if interrupted or not evaluate_test else _evaluate(run, run.test_split)
    if test is not None:
        run.test_milestones[run.step] = test.accuracy
    digests = run.strategy.replica_digests(run.model)
    result = TrainResult(
        config=run.config,
        model=run.reading,
        step=run.step,
        interrupted=interrupted,
        val_accuracy=run.val_accuracy,
        best_val_accuracy=run.best_val,
        best_step=run.best_step,
        test=test,
        train_seconds=train_seconds,
        run_dir=run.run_dir,
    )
    summary = summarize(result, runtime, run.strategy)
    summary.update(
        test_milestones=[{"step": s, "test_accuracy": a} for s, a in sorted(run.test_milestones.items())],
        precision=describe_precision(run.config.precision, run.device),
        load_average_end=load_average(),
    )
    if digests is not None:
        summary["distributed"]["weights_sha256"] = digests
    if not interrupted:
        # Validation only, with the score the config names.
        calibration = fit_calibration(
            run.reading, run.val_split, run.config.dataset, score=run.config.abstain_score
        )
        summary["calibration"] = {"temperature": calibration["temperature"], "rule": calibration["rule"]}
        run.writer.write_calibration(calibration_content(calibration))
        run.writer.write_results(summary)
    return dataclasses.replace(result, summary=summary)
