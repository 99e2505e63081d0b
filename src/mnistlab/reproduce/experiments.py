"""What `mnistlab reproduce` runs: the paper's rows, the beyond-the-paper recipes, the seeds."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mnistlab.config import TrainConfig, resolve_config
from mnistlab.errors import UsageError
from mnistlab.recipes import RECIPES

PAPER_SEEDS = (0, 1, 2)
QUICK_SEEDS = (0,)


@dataclass(frozen=True)
class Reference:
    """A published number for the same model on another dataset than the paper's."""

    accuracy: float  # a fraction
    what: str  # what was measured, and how it differs from our row
    source: str


@dataclass(frozen=True)
class Experiment:
    """One row of the results table: a recipe, its paper number and its reduced --quick size."""

    key: str  # names the run folders and the row in results.json
    title: str
    task: str
    recipe: str | None = None  # None: the task's paper recipe
    overrides: Mapping[str, Any] = field(default_factory=dict)
    paper_accuracy: float | None = None  # a fraction; None for rows beyond the paper
    quick_steps: int | None = None  # steps under --quick; None leaves the row out of --quick
    beyond_paper: bool = False
    baseline: str | None = None  # an ablation: the key of the row it changes one thing of
    change: str = ""  # an ablation's change, in words
    dead_units: bool = False  # also count its (and its baseline's) never-firing ReLU units
    reference: Reference | None = None  # off MNIST: a published number that compares like with like

    def config(self, seed: int, *, quick: bool = False) -> TrainConfig:
        """The run's config; under --quick fewer steps, with validation still twice per run."""
        full = resolve_config(self.task, self.recipe, overrides={**self.overrides, "seed": seed})
        if not quick or self.quick_steps is None or self.quick_steps == full.steps:
            return full
        steps = self.quick_steps
        reduced = {
            "steps": steps,
            "eval_every": min(full.eval_every, max(1, steps // 2)),
            "log_every": min(full.log_every, max(1, steps // 20)),
        }
        return resolve_config(self.task, self.recipe, overrides={**self.overrides, "seed": seed, **reduced})


# The paper's numbers: "MNIST for ML Beginners" (softmax) and "Deep MNIST for Experts" (CNN).
PAPER_EXPERIMENTS: tuple[Experiment, ...] = (
    Experiment("softmax-1k", "Softmax regression, 1,000 steps", "softmax", overrides={"steps": 1000},
               paper_accuracy=0.9186, quick_steps=1000),
    Experiment("softmax-10k", "Softmax regression, 10,000 steps", "softmax", overrides={"steps": 10_000},
               paper_accuracy=0.9223, quick_steps=2000),
    Experiment("cnn", "Deep CNN, 20,000 steps", "cnn", paper_accuracy=0.9927, quick_steps=400),
)  # fmt: skip


# The paper says more steps improve accuracy "slightly": one long softmax run per seed,
# tested at each milestone (these select nothing). Constant-rate gradient descent makes the
# first N steps of it an N-step run, so the milestones stand for runs of those lengths.
SOFTMAX_STEPS = Experiment(
    "softmax-30k",
    "Softmax regression, 30,000 steps (accuracy against steps)",
    "softmax",
    overrides={"steps": 30_000, "test_milestones": (100, 300, 1000, 3000, 10_000)},
    beyond_paper=True,
)


# Plain SGD with momentum 0.9 in place of Adam. The rate was chosen on the validation
# split only, never on test: 2,000-step paper-CNN runs at lr 0.003, 0.01 and 0.03 (seed 0,
# `mnistlab train cnn --config sgd.json --lr LR --steps 2000 --eval-every 500 --seed 0`, with
# sgd.json = {"optimizer": "sgd", "momentum": 0.9, "test_milestones": []}) reached validation
# 98.42 %, 98.66 % and 98.04 % (2-core AMD EPYC, torch 2.13.0, 2 threads): 0.01 is kept.
SGD_MOMENTUM_LR = 0.01


def _ablation(key: str, title: str, change: str, overrides: Mapping[str, Any], **extra: Any) -> Experiment:
    return Experiment(f"cnn-{key}", f"Deep CNN, {title}", "cnn", overrides=overrides, quick_steps=400,
                      beyond_paper=True, baseline="cnn", change=change, **extra)  # fmt: skip


# The paper CNN (20,000 steps) with one choice changed each; the report compares each with the
# "cnn" row. model_options replaces the whole dict, so each gives every option it sets.
# Add a row here to add an ablation.
ABLATIONS: tuple[Experiment, ...] = (
    _ablation("no-dropout", "no dropout", "no dropout: keep probability 1.0 instead of 0.5", {"model_options": {"dropout": 0.0}}),
    _ablation("bias0", "biases initialised at 0", "biases initialised at 0 instead of 0.1",
              {"model_options": {"bias_init": 0.0}}, dead_units=True),
    _ablation("sgd", "SGD with momentum", f"SGD with momentum 0.9 at lr {SGD_MOMENTUM_LR:g} instead of Adam at 1e-4",
              {"optimizer": "sgd", "momentum": 0.9, "lr": SGD_MOMENTUM_LR}),
    _ablation("fc256", "fc 256 units", "fc layer of 256 units instead of 1024", {"model_options": {"hidden": 256}}),
)  # fmt: skip


# The paper's numbers are MNIST's; on another dataset a row shows, where one exists, a published
# number for the same model instead.
PAPER_DATASET = "mnist"
REFERENCES: dict[str, dict[str, Reference]] = {
    "fashion-mnist": {
        # The publisher's benchmark/convnet.py is the paper CNN's layers (dropout 0.4 instead of
        # 0.5), trained with plain SGD at 0.001, batch 400, on all 60,000 training images.
        "cnn": Reference(
            0.916,
            "the publisher's benchmark: 2 conv layers with max pooling (TensorFlow), >300 epochs — the paper "
            "CNN's layers, dropout 0.4, plain SGD at 0.001, batch 400, all 60,000 training images",
            "github.com/zalandoresearch/fashion-mnist README (Benchmark) and benchmark/convnet.py",
        ),
    },
}


def for_dataset(experiments: Sequence[Experiment], dataset: str) -> tuple[Experiment, ...]:
    """The rows as run on `dataset`: off MNIST without the paper's numbers, with a reference where
    one exists, and with `dataset` in each run's config (what `export` and a resume read)."""
    if dataset == PAPER_DATASET:
        return tuple(experiments)
    references = REFERENCES.get(dataset, {})
    return tuple(
        dataclasses.replace(
            e,
            paper_accuracy=None,
            reference=references.get(e.key),
            overrides={**e.overrides, "dataset": dataset},
        )
        for e in experiments
    )


# `--best` runs the recipe tuned for the dataset; datasets not listed get the MNIST-tuned one.
TUNED_RECIPES: dict[str, tuple[str, str]] = {"fashion-mnist": ("fashion", "Fashion-tuned CNN recipe")}


def available_experiments(
    *, best: bool = False, ablations: bool = False, dataset: str = PAPER_DATASET, image_kind: str = "digits"
) -> tuple[Experiment, ...]:
    """The paper's rows, then the beyond-the-paper recipes that exist in this install, then any ablations.

    The robust recipe models pen strokes, so only datasets of digits get its row.
    """
    rows = [*PAPER_EXPERIMENTS, SOFTMAX_STEPS]
    if "fast" in RECIPES:
        rows.append(Experiment("cnn-fast", "Fast CNN recipe", "cnn", "fast", beyond_paper=True))
    if "robust" in RECIPES and image_kind == "digits":
        rows.append(Experiment("cnn-robust", "Robust CNN recipe", "cnn", "robust", beyond_paper=True))
    if best:
        recipe, title = TUNED_RECIPES.get(dataset, ("best", "Best CNN recipe"))
        if recipe not in RECIPES:
            raise UsageError(f"--best needs the {recipe!r} CNN recipe, which this install does not have.")
        rows.append(Experiment(f"cnn-{recipe}", title, "cnn", recipe, beyond_paper=True))
    if ablations:
        rows += ABLATIONS
    return tuple(rows)


def with_precision(
    experiments: Sequence[Experiment], precision: str
) -> tuple[tuple[Experiment, ...], dict[str, str]]:
    """Every experiment in `precision`, and a map from the plain keys to the new ones.

    fp32 changes nothing; another precision gets its own keys, so its run folders and rows
    never collide with (or reuse) the fp32 runs of the same report folder.
    """
    if precision == "fp32":
        return tuple(experiments), {e.key: e.key for e in experiments}
    renamed = tuple(
        dataclasses.replace(
            e,
            key=f"{e.key}-{precision}",
            title=f"{e.title}, {precision}",
            overrides={**e.overrides, "precision": precision},
        )
        for e in experiments
    )
    return renamed, {e.key: r.key for e, r in zip(experiments, renamed, strict=True)}
