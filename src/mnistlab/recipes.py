"""Recipes: named defaults for a training task, one table, each entry saying how it was chosen.

A recipe picks the registered model (`mnistlab.models`) and its hyper-parameters; a config
file and command-line flags override it (`mnistlab.config.resolve_config`). New records get
new names, so a published number keeps citing the recipe that made it.
"""

from __future__ import annotations

from typing import Any

from mnistlab.errors import UsageError

# Recipe name -> defaults. The recipe picks the registered model and its hyper-parameters; the
# task (what `mnistlab train TASK` trains) follows from the model: `task_of_recipe`. Each task's
# paper recipe carries the task's name, so `mnistlab train softmax` and `mnistlab train cnn` are
# the paper's two models.
RECIPES: dict[str, dict[str, Any]] = {
    # The paper / TensorFlow "MNIST for ML Beginners": zero init, SGD 0.5, batch 100.
    "softmax": dict(
        model="softmax",
        steps=1000,
        batch_size=100,
        optimizer="sgd",
        lr=0.5,
        eval_every=100,
        log_every=50,
    ),
    # The paper / "Deep MNIST for Experts": Adam 1e-4, batch 50, 20,000 steps.
    "cnn": dict(
        model="cnn",
        steps=20_000,
        batch_size=50,
        optimizer="adam",
        lr=1e-4,
        eval_every=1000,
        log_every=100,
        test_milestones=(1000, 2000, 5000, 10_000),
    ),
    # Beyond the paper: a small batch-norm CNN, one-cycle SGD, 3 epochs, validated only at
    # the end. Chosen on the validation split; >= 99.27 % test in < 60 s on 2 cores
    # (`mnistlab bench`). `--steps 215` (1 epoch) aims at 99.0 % in < 20 s.
    "fast": dict(
        model="cnn_bn",
        model_options={"widths": [16, 32, 64]},
        steps=645,
        batch_size=256,
        optimizer="nesterov",
        lr=0.4,
        momentum=0.9,
        weight_decay=5e-4,
        schedule="onecycle",
        warmup_fraction=0.25,
        eval_every=645,
        log_every=50,
    ),
    # The best single model: two convolutions per block, random affine augmentation and a
    # longer one-cycle schedule (~14 min fp32 on a 2-core EPYC, 4 min 48 s bf16 on the 2-core
    # Xeon with AMX: docs/records.md); `mnistlab ensemble` averages several.
    "best": dict(
        model="cnn_bn_deep",
        model_options={"widths": [32, 64, 128], "dropout": 0.2},
        steps=4300,  # 10 epochs at batch 128
        batch_size=128,
        optimizer="nesterov",
        lr=0.1,
        momentum=0.9,
        weight_decay=5e-4,
        schedule="onecycle",
        warmup_fraction=0.2,
        label_smoothing=0.1,
        augmentations=("affine",),
        eval_every=430,
        log_every=100,
    ),
}

# Reads people's handwriting: the fast CNN reading ink relative to its strongest pixel
# (cnn_bn_ink), trained 6 epochs on batches of which half get random pen widths and half
# sensor noise, all a random affine map. Chosen on the corrupted validation split
# (`mnistlab evaluate RUN --robustness --split val`): elastic, slant and cutout cost
# clean accuracy and added nothing to the mean over corruptions there; 6 epochs beat 4 on
# validation, clean 99.27 vs 99.22 % and corrupted 96.63 vs 96.58 % (means of seeds 0-2,
# 1 thread, 2-core AMD EPYC, torch 2.13.0; issue 13).
RECIPES["robust"] = {
    **RECIPES["fast"],
    "model": "cnn_bn_ink",
    "steps": 1290,  # 6 epochs at batch 256
    "eval_every": 1290,
    "augmentations": ("thickness", "affine", "noise"),
}

# The reader: the fast CNN at twice its widths, 6 epochs with pen-width, affine and low-resolution
# augmentation, and a "not a digit" output trained on outliers that include pen-stroke letters,
# doodles, scribbles and joined digit pairs (`mnistlab.data.negatives`' training families), all
# augmented as the digits are. The outlier term is off for the first half of the run, then rises
# over the next fifth: the network first learns digits (a fine-tune within one run). It abstains
# on the energy of its digit log-probabilities. Chosen on validation only (MNIST's validation
# split, the negatives and pen-written digits of held-out fonts and shapes, the UCI digits)
# against outlier exposure, objectosphere and seven variants of itself: docs/reader.md.
RECIPES["reader"] = {
    **RECIPES["fast"],
    "model_options": {"widths": [32, 64, 128]},
    "steps": 1290,  # 6 epochs at batch 256
    "eval_every": 1290,
    "augmentations": ("thickness", "affine", "lowres"),
    "outlier_exposure": 0.5,
    "outlier_loss": "class",
    "outlier_start": 0.5,
    "outlier_ramp": 0.2,
    "outlier_sets": (
        "other",
        "uniform_noise",
        "blurred_noise",
        "pen_letters",
        "pen_doodles",
        "pen_scribbles",
        "pen_joined_pairs",
    ),
    "augment_outliers": True,
    "abstain_score": "energy",
}

# Fashion-MNIST's own recipe (issue 11): the best model with the augmentations of photographed
# objects (mirror, whole-pixel shift, cutout) in place of the digits' affine maps. Looked at
# on Fashion's validation split only (seed 0, `--config` variants of this recipe): 15 epochs
# of mirror + shift 94.22 %, of mirror + shift + cutout 94.36 %; 20 epochs of the latter
# 94.22 %; averaging each image's prediction with its mirror's gave -0.12 / +0.16 points,
# so it is not used. The epoch counts did not separate on validation; 20 were kept because
# their three seeds are the ones measured (README, "Datasets").
RECIPES["fashion"] = {
    **RECIPES["best"],
    "augmentations": ("flip", "shift", "erase"),
    "steps": 8600,  # 20 epochs at batch 128
    "eval_every": 1720,
}

# Few training FLOPs to 99.0 / 99.27 % (issue 25; models/sprint.py), chosen on validation: docs/speed.md
RECIPES["sprint"] = {
    **RECIPES["fast"],
    "model": "cnn_unpadded",
    "model_options": {"widths": [16, 32], "hidden": 128},
    "steps": 250,
    "eval_every": 250,
    "lr": 1.35,
    "weight_decay": 6.04e-5,
    "warmup_fraction": 0.392,
    "label_smoothing": 0.113,
}
RECIPES["sprint_long"] = {
    **RECIPES["sprint"],
    "steps": 645,
    "eval_every": 645,
    "lr": 0.626,
    "weight_decay": 2.26e-5,
    "warmup_fraction": 0.216,
    "label_smoothing": 0.0749,
    "augmentations": ("affine",),
}


# Recipes no measured result justifies any longer, and the recipe that replaces each.
# fashion_wide (the fashion recipe at widths 48/96/192 for 15 epochs): its test median, 93.88 %
# over seeds 0-2, is no better than fashion's 93.89 % (docs/records.md keeps its runs).
RETIRED: dict[str, tuple[str, str]] = {
    "fashion_wide": ("fashion", "its test accuracy was no better than fashion's"),
}

# What `mnistlab train` trains, each by its paper recipe unless --recipe names another.
TASKS = ("cnn", "softmax")
# Before recipes had flat names both paper recipes were "paper"; run folders and studies of that
# time say so, and `--recipe paper` still means the task's paper recipe.
OLD_PAPER_NAME = "paper"

# Models are named by architecture. Older run folders name theirs after the recipe that trained
# it, in config.json, state.json and the weights (the shipped reader's files, whose hashes are
# fixed, say cnn_fast): each old name reads as the registered model it is.
OLD_MODEL_NAMES: dict[str, str] = {
    "cnn_fast": "cnn_bn",
    "cnn_best": "cnn_bn_deep",
    "cnn_robust": "cnn_bn_ink",
    "cnn_sprint": "cnn_unpadded",
}


def canonical_model(name: str) -> str:
    """The registered name of a model named `name` (an old name, or already the registered one)."""
    return OLD_MODEL_NAMES.get(name, name)


def canonical_recipe(recipe: str, model: str) -> str:
    """The recipe's flat name: an older run's "paper" is its task's paper recipe."""
    if recipe == OLD_PAPER_NAME:
        return "softmax" if canonical_model(model) == "softmax" else "cnn"
    return recipe


def task_of_recipe(recipe: str) -> str:
    """The task a recipe trains: "softmax" for the regression, "cnn" for every network."""
    return "softmax" if RECIPES[recipe]["model"] == "softmax" else "cnn"


def task_of(model: str, recipe: str) -> str | None:
    """The task whose `recipe` trains the registered `model` (or the name an older run gave it),
    if any."""
    recipe = canonical_recipe(recipe, model)
    if recipe in RECIPES and RECIPES[recipe]["model"] == canonical_model(model):
        return task_of_recipe(recipe)
    return None


def recipe_names(task: str) -> list[str]:
    return sorted(name for name in RECIPES if task_of_recipe(name) == task)


def recipe_defaults(task: str, recipe: str | None = None) -> dict[str, Any]:
    """The defaults of `recipe` (None or "paper": the task's paper recipe), which must train `task`."""
    recipe = task if recipe in (None, OLD_PAPER_NAME) else recipe
    if recipe in RETIRED:
        replacement, why = RETIRED[recipe]
        raise UsageError(f"Recipe {recipe!r} is retired ({why}); use --recipe {replacement} instead.")
    if recipe not in RECIPES:
        known = ", ".join(recipe_names(task)) or "none"
        raise UsageError(f"No recipe {recipe!r} for {task!r}; known recipes: {known}.")
    if task_of_recipe(recipe) != task:
        raise UsageError(
            f"Recipe {recipe!r} trains a {task_of_recipe(recipe)}, not a {task}; "
            f"run mnistlab train {task_of_recipe(recipe)} --recipe {recipe}."
        )
    return {"recipe": recipe, **RECIPES[recipe]}
