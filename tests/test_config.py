from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mnistlab.config import TrainConfig, read_config_file, resolve_config
from mnistlab.errors import UsageError
from mnistlab.recipes import RECIPES, task_of_recipe


def test_paper_recipes_hold_the_papers_hyperparameters() -> None:
    softmax = resolve_config("softmax")
    assert (softmax.model, softmax.optimizer, softmax.lr, softmax.batch_size, softmax.steps) == (
        "softmax", "sgd", 0.5, 100, 1000,
    )  # fmt: skip
    cnn = resolve_config("cnn")
    assert (cnn.model, cnn.optimizer, cnn.lr, cnn.batch_size, cnn.steps) == ("cnn", "adam", 1e-4, 50, 20_000)


def test_recipes_have_flat_names_and_the_old_paper_name_reads_as_each_tasks_paper_recipe() -> None:
    assert set(RECIPES) >= {"softmax", "cnn", "fast", "best", "robust", "reader", "fashion", "sprint"}
    assert task_of_recipe("softmax") == "softmax" and task_of_recipe("reader") == "cnn"
    # `--recipe paper`, a study's or an older run's "paper", is the task's paper recipe.
    assert resolve_config("cnn", "paper") == resolve_config("cnn") == resolve_config("cnn", "cnn")
    assert resolve_config("softmax", "paper").recipe == "softmax"
    old = {**resolve_config("cnn").to_dict(), "recipe": "paper"}
    assert TrainConfig.from_dict(old) == resolve_config("cnn")
    old_softmax = {**resolve_config("softmax").to_dict(), "recipe": "paper"}
    assert TrainConfig.from_dict(old_softmax).recipe == "softmax"
    with pytest.raises(UsageError) as raised:
        resolve_config("softmax", "fast")
    assert str(raised.value) == (
        "Recipe 'fast' trains a cnn, not a softmax; run mnistlab train cnn --recipe fast."
    )


def test_defaults_then_file_then_flags(tmp_path) -> None:
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"steps": 7, "lr": 0.1}))
    config = resolve_config("softmax", "softmax", read_config_file(path), {"lr": 0.2, "seed": None})
    assert (config.steps, config.lr, config.seed, config.batch_size) == (7, 0.2, 0, 100)


def test_toml_config_file(tmp_path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("steps = 9\nbatch_size = 10\n")
    assert read_config_file(path) == {"steps": 9, "batch_size": 10}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"steps": 0}, "steps must be a positive integer, got 0"),
        ({"lr": -1.0}, "lr must be positive"),
        ({"optimizer": "rmsprop"}, "optimizer must be one of sgd, adam, nesterov"),
        ({"colour": 1}, "Unknown config key\\(s\\) colour"),
    ],
)
def test_bad_values_are_usage_errors(values, message) -> None:
    with pytest.raises(UsageError, match=message):
        resolve_config("softmax", "softmax", values)


def test_bad_config_files(tmp_path) -> None:
    with pytest.raises(UsageError, match="Cannot read config file"):
        read_config_file(tmp_path / "missing.json")
    broken = tmp_path / "b.json"
    broken.write_text("{nope")
    with pytest.raises(UsageError, match="is not valid json"):
        read_config_file(broken)
    with pytest.raises(UsageError, match="No recipe 'turbo' for 'softmax'"):
        resolve_config("softmax", "turbo")


def test_config_round_trips_through_a_dict() -> None:
    for recipe in RECIPES:
        config = resolve_config(task_of_recipe(recipe), recipe)
        assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_every_committed_record_config_resolves_with_the_recipe_its_command_names() -> None:
    # examples/records/*.toml: each names its command in a comment; what it changes must be keys.
    files = sorted((Path(__file__).parents[1] / "examples" / "records").glob("*.toml"))
    assert files
    for path in files:
        command = next(line for line in path.read_text().splitlines() if "mnistlab train" in line)
        task, recipe = re.search(r"mnistlab train (\w+)(?: --recipe (\w+))?", command).groups()
        config = resolve_config(task, recipe, read_config_file(path))
        assert config != resolve_config(task, recipe), path  # it changes something


# -- the retired `augment` flag and the retired fashion_wide recipe ------------------------------


def old_form(config: TrainConfig, augment: bool, augmentations: list[str]) -> dict:
    """`config` as an older mnistlab wrote it into config.json: with the `augment` flag."""
    return {**config.to_dict(), "augment": augment, "augmentations": augmentations}


def test_an_old_config_with_augment_reads_as_the_same_augmentations() -> None:
    best, fashion = resolve_config("cnn", "best"), resolve_config("cnn", "fashion")
    assert best.augmentations == ("affine",) and fashion.augmentations == ("flip", "shift", "erase")
    assert "augment" not in best.to_dict()
    # As the `best` and `fashion` recipes wrote their runs' config.json before: the same configs.
    assert TrainConfig.from_dict(old_form(best, True, [])) == best
    assert TrainConfig.from_dict(old_form(fashion, False, ["flip", "shift", "erase"])) == fashion
    # Named augmentations won over the flag; `augment = false` added nothing.
    assert TrainConfig.from_dict({"augment": True, "augmentations": ["noise"]}).augmentations == ("noise",)
    assert TrainConfig.from_dict({"augment": False}) == TrainConfig()


def test_an_old_config_file_with_augment_resolves_as_it_did(tmp_path: Path) -> None:
    old = tmp_path / "cnn-affine.toml"
    old.write_text('model = "cnn"\naugment = true\n')
    new = resolve_config("cnn", "cnn", {"model": "cnn", "augmentations": ["affine"]})
    assert resolve_config("cnn", "cnn", read_config_file(old)) == new
    # A recipe's own augmentations were kept over `augment = true`, and still are.
    robust = resolve_config("cnn", "robust")
    assert resolve_config("cnn", "robust", {"augment": True}) == robust
    assert resolve_config("cnn", "fast", {"augment": False}) == resolve_config("cnn", "fast")
    assert resolve_config("cnn", "best", {"augment": False, "augmentations": []}).augmentations == ()


def test_augment_false_against_a_recipe_that_names_augmentations_is_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mnistlab.cli import main

    old = tmp_path / "no-affine.toml"
    old.write_text("augment = false\n")
    out = tmp_path / "run"
    assert main(["train", "cnn", "--recipe", "best", "--config", str(old), "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.err == (
        "mnistlab: error: The config key augment is gone: write augmentations = [] for no augmentation, "
        'or keep recipe best\'s augmentations = ["affine"] by removing augment.\n'
    )
    assert "Traceback" not in captured.err and not out.exists()


def test_the_retired_fashion_wide_recipe_points_to_fashion(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mnistlab.cli import main
    from mnistlab.recipes import RETIRED, recipe_names

    sentence = (
        "Recipe 'fashion_wide' is retired (its test accuracy was no better than fashion's); "
        "use --recipe fashion instead."
    )
    with pytest.raises(UsageError) as raised:
        resolve_config("cnn", "fashion_wide")
    assert str(raised.value) == sentence
    assert "fashion_wide" not in recipe_names("cnn") and RETIRED["fashion_wide"][0] in recipe_names("cnn")
    out = tmp_path / "run"
    argv = ["train", "cnn", "--recipe", "fashion_wide", "--dataset", "fashion-mnist", "--out", str(out)]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err == f"mnistlab: error: {sentence}\n" and captured.out == "" and not out.exists()


def test_an_interrupted_run_of_a_retired_recipe_still_resumes(
    small, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import dataclasses

    from mnistlab import recipes
    from mnistlab.cli import main
    from mnistlab.runs.progress import unfinished
    from mnistlab.training.loop import train

    # A softmax recipe retired after the run started (fashion_wide's case, at a softmax's cost).
    monkeypatch.setitem(recipes.RETIRED, "old_paper", ("softmax", "no better than softmax"))
    run = tmp_path / "run"
    config = resolve_config("softmax", "softmax", overrides={"steps": 40, "eval_every": 20})
    config = dataclasses.replace(config, recipe="old_paper")
    calls = iter(range(100))
    train(config, small, run_dir=run, should_stop=lambda: next(calls) >= 20)
    assert unfinished(run) is not None and unfinished(run).step < 40
    argv = ["train", "softmax", "--resume", str(run), "--data-dir", str(data_dir)]
    assert main(argv) == 0, capsys.readouterr().err
    results = json.loads((run / "results.json").read_text())
    assert results["steps"] == 40 and results["recipe"] == "old_paper" and not results.get("interrupted")
    with pytest.raises(UsageError, match="is retired"):  # a new run of it still gets the sentence
        resolve_config("softmax", "old_paper")
