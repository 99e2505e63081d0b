"""Commands that read a run follow the run's dataset: classes, pre-processing, domain shift."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mnistlab import visualize
from mnistlab.cli import main
from mnistlab.config import resolve_config
from mnistlab.data import Dataset, load_dataset, write_idx
from mnistlab.data.registry import FASHION_MNIST, MNIST
from mnistlab.errors import UsageError
from mnistlab.evaluation.metrics import evaluate
from mnistlab.fileio import atomic_write_json
from mnistlab.inference import OBJECTS, preprocess, preprocess_object
from mnistlab.models import create_model
from mnistlab.reader import classify
from mnistlab.runs import checkpoint as ckpt
from mnistlab.runs.tensors import save_weights
from mnistlab.training.loop import train


@pytest.fixture(autouse=True)
def isolated_config(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))


@pytest.fixture(scope="module")
def fashion(data_dir: Path) -> Dataset:
    return load_dataset("fashion-mnist", data_dir)


@pytest.fixture(scope="module")
def fashion_run(fashion: Dataset, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A paper-recipe softmax on Fashion-MNIST (1,000 steps, a few seconds; ~76 % test)."""
    run_dir = tmp_path_factory.mktemp("runs") / "fashion-softmax"
    config = resolve_config("softmax", "softmax", overrides={"seed": 0, "dataset": "fashion-mnist"})
    train(config, fashion, run_dir=run_dir)
    # What training writes beside every run (the lead's training change); the same bytes if it already did.
    atomic_write_json(run_dir / ckpt.DATASET_FILE, fashion.record())
    return run_dir


def _photo(image: np.ndarray) -> Image.Image:
    """A 28x28 Fashion-MNIST image as a product photo: dark on white, 224 px, off-centre."""
    photo = Image.fromarray(255 - image).resize((224, 224), Image.Resampling.BICUBIC)
    canvas = Image.new("L", (400, 300), 255)
    canvas.paste(photo, (100, 40))
    return canvas


def _one_line_error(capsys, argv: list[str], status: int) -> str:
    assert main(argv) == status
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err.strip().removeprefix("mnistlab: error: ")


# --- train and what a run records -------------------------------------------------------


def test_train_records_the_dataset_in_its_config_and_resume_keeps_it(capsys, tmp_path: Path, data_dir: Path):
    run_dir = tmp_path / "run"
    argv = ["train", "softmax", "--dataset", "fashion-mnist", "--data-dir", str(data_dir), "--steps", "20"]
    assert main([*argv, "--eval-every", "10", "--out", str(run_dir), "--json"]) == 0
    config, _ = ckpt.read_run_config(run_dir)
    assert config.dataset == "fashion-mnist"
    capsys.readouterr()
    line = _one_line_error(capsys, ["train", "softmax", "--resume", str(run_dir), "--dataset", "mnist"], 2)
    assert line.startswith("--dataset cannot be combined with --resume")


def test_a_run_without_dataset_json_was_trained_on_mnist(softmax_run: Path, tmp_path: Path):
    old_run = tmp_path / "old-run"  # as written before runs recorded their dataset
    shutil.copytree(softmax_run, old_run)
    assert json.loads((old_run / ckpt.DATASET_FILE).read_text())["name"] == "mnist"
    (old_run / ckpt.DATASET_FILE).unlink()
    record = ckpt.read_dataset_record(old_run)
    assert record["name"] == "mnist" and record["classes"] == list(MNIST.classes)
    assert record["sha256"]["train_images"] == MNIST.train_images.sha256
    # The registry's record is the one a loaded MNIST writes, its sizes unknown.
    written = json.loads((softmax_run / ckpt.DATASET_FILE).read_text())
    assert record == {**written, "sizes": None}


def test_evaluate_uses_the_runs_dataset_without_being_told(capsys, fashion_run: Path, data_dir: Path):
    assert main(["evaluate", str(fashion_run), "--data-dir", str(data_dir), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["dataset"], out["trained_on"], out["domain_shift"]) == (
        "fashion-mnist",
        "fashion-mnist",
        False,
    )
    # The run's own test, recorded when it finished, is the reference.
    assert out["accuracy"] == pytest.approx(ckpt.read_results(fashion_run)["test_accuracy"], abs=1e-12)
    assert main(["evaluate", str(fashion_run), "--data-dir", str(data_dir)]) == 0
    text = capsys.readouterr().out
    assert "on Fashion-MNIST test" in text and "9 Ankle boot" in text and "Domain shift" not in text


def test_evaluate_ood_of_a_fashion_run_has_mnist_digits_among_its_outliers(
    capsys, fashion_run: Path, fashion: Dataset, mnist: Dataset, data_dir: Path
):
    from scipy.stats import rankdata

    from mnistlab.data import outliers
    from mnistlab.reader.abstention import AbstentionRule
    from mnistlab.reader.calibration import read_calibration
    from mnistlab.reader.prediction import predict_logits

    assert main(["evaluate", str(fashion_run), "--ood", "--json", "--data-dir", str(data_dir)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["calibrated"] and report["split"] == "test"
    assert [row["outliers"] for row in report["outliers"]] == ["mnist", *outliers.MAKERS]
    # The reference: MNIST's test digits against Fashion-MNIST's test items, scored by the run's own
    # rule, AUROC from the ranks of all scores (ties averaged).
    model, _ = ckpt.load_model(fashion_run)
    rule = AbstentionRule.from_dict(read_calibration(fashion_run)["rule"])
    inside = rule.scores(predict_logits(model, fashion.test.images))
    digits = rule.scores(predict_logits(model, mnist.test.images))
    ranks = rankdata(torch.cat([inside, digits]).numpy())
    n, m = inside.numel(), digits.numel()
    auroc = (ranks[:n].sum() - n * (n + 1) / 2) / (n * m)
    row = report["outliers"][0]
    assert row["images"] == m == 10_000
    assert row["auroc"] == pytest.approx(auroc, abs=1e-12)
    assert row["abstained"] == float((digits < rule.threshold).double().mean())
    assert report["inside"]["abstained"] == pytest.approx(
        float((inside < rule.threshold).double().mean()), abs=1e-12
    )
    assert main(["evaluate", str(fashion_run), "--ood", "--data-dir", str(data_dir)]) == 0
    text = capsys.readouterr().out
    assert f"{fashion_run} on fashion-mnist test: abstains on" in text
    assert any(line.startswith("mnist ") and "10,000" in line for line in text.splitlines())


def test_evaluate_on_a_dataset_with_other_classes_is_refused(capsys, fashion_run: Path, data_dir: Path):
    line = _one_line_error(
        capsys, ["evaluate", str(fashion_run), "--dataset", "mnist", "--data-dir", str(data_dir)], 2
    )
    assert line.startswith(f"{fashion_run} was trained on Fashion-MNIST (classes T-shirt/top, Trouser,")
    assert line.endswith(
        "but mnist has other classes (0, 1, 2, 3, 4, 5, 6, 7, 8, 9); a run can only be "
        "evaluated on a dataset with the same class list."
    )


def test_domain_shift_on_a_persons_own_digits(capsys, softmax_run: Path, mnist: Dataset, tmp_path: Path):
    # "My digits": 600 + 200 MNIST test images registered as a dataset of their own.
    folder = tmp_path / "mydigits"
    images, labels = mnist.test.images.numpy(), mnist.test.labels.numpy().astype(np.uint8)
    write_idx(folder / "train-images-idx3-ubyte.gz", images[:600])
    write_idx(folder / "train-labels-idx1-ubyte.gz", labels[:600])
    write_idx(folder / "t10k-images-idx3-ubyte.gz", images[600:800])
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", labels[600:800])
    assert main(["data", "add", "mydigits", str(folder)]) == 0
    capsys.readouterr()

    assert main(["evaluate", str(softmax_run), "--dataset", "mydigits", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["dataset"], out["trained_on"], out["domain_shift"]) == ("mydigits", "mnist", True)
    model, _ = ckpt.load_model(softmax_run)
    assert out["accuracy"] == evaluate(model, load_dataset("mydigits").test).accuracy
    assert out["count"] == 200
    assert main(["evaluate", str(softmax_run), "--dataset", "mydigits"]) == 0
    assert capsys.readouterr().out.startswith(
        f"Domain shift: {softmax_run} was trained on MNIST and is evaluated on mydigits (same classes, other images)."
    )


def test_ensemble_of_runs_on_different_datasets_is_refused(capsys, fashion_run: Path, softmax_run: Path):
    line = _one_line_error(capsys, ["ensemble", str(fashion_run), str(softmax_run)], 2)
    assert line == (
        f"{fashion_run} was trained on Fashion-MNIST and {softmax_run} on MNIST; runs read together must "
        f"share one dataset."
    )


def _three_class_run(tmp_path: Path) -> tuple[Path, Dataset]:
    """A user dataset of 3 classes and a (synthetic, untrained) softmax run on it."""
    rng = np.random.default_rng(3)
    folder = tmp_path / "pets"
    write_idx(folder / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (100, 28, 28), dtype=np.uint8))
    write_idx(folder / "train-labels-idx1-ubyte.gz", rng.integers(0, 3, 100, dtype=np.uint8))
    write_idx(folder / "t10k-images-idx3-ubyte.gz", rng.integers(0, 256, (30, 28, 28), dtype=np.uint8))
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", rng.integers(0, 3, 30, dtype=np.uint8))
    assert main(["data", "add", "pets", str(folder), "--classes", "cat,dog,bird", "--kind", "objects"]) == 0
    data = load_dataset("pets")
    run_dir = tmp_path / "run"
    ckpt.write_run_config(run_dir, resolve_config("softmax", "softmax", overrides={"dataset": "pets"}), {})
    torch.manual_seed(0)
    model = create_model("softmax", num_classes=3)
    torch.nn.init.normal_(model.linear.weight)
    save_weights(run_dir / ckpt.BEST_FILE, model, {"model": "softmax"})
    atomic_write_json(run_dir / ckpt.RESULTS_FILE, {"test_checkpoint": "best"})
    atomic_write_json(run_dir / ckpt.DATASET_FILE, data.record())
    return run_dir, data


def test_a_three_class_run_is_read_with_three_classes(capsys, tmp_path: Path):
    run_dir, data = _three_class_run(tmp_path)
    model, _ = ckpt.load_model(run_dir)
    assert model.linear.out_features == 3
    capsys.readouterr()
    assert main(["evaluate", str(run_dir), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["confusion"]) == 3 and out["count"] == 30
    assert out["accuracy"] == evaluate(model, data.test).accuracy

    photo = tmp_path / "thing.png"
    _photo(data.test.images[0].numpy()).save(photo)
    assert main(["predict", str(run_dir), str(photo), "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["predictions"][0]["digits"]
    assert row["class"] == ["cat", "dog", "bird"][row["label"]] and len(row["probabilities"]) == 3


def test_a_run_on_files_that_were_replaced_under_its_name(capsys, tmp_path: Path):
    run_dir, _ = _three_class_run(tmp_path)
    record = json.loads((run_dir / ckpt.DATASET_FILE).read_text())
    record["sha256"]["test_labels"] = "0" * 64  # as if trained on other "pets" files
    atomic_write_json(run_dir / ckpt.DATASET_FILE, record)
    capsys.readouterr()
    line = _one_line_error(capsys, ["evaluate", str(run_dir)], 1)
    assert line.startswith(f"{run_dir} was trained on other pets files than those registered as 'pets' now")


# --- class names where labels are shown ----------------------------------------------------


def test_figures_name_the_classes(fashion: Dataset, fashion_run: Path):
    classes = list(FASHION_MNIST.classes)
    labels = fashion.test.labels[:8]
    fig = visualize.digit_grid(fashion.test.images[:8], labels, classes=classes, title="Fashion-MNIST images")
    assert [ax.get_title() for ax in fig.axes if ax.images] == [classes[int(y)] for y in labels]

    model, _ = ckpt.load_model(fashion_run)
    titles = [ax.get_title() for ax in visualize.weights_figure(model, classes).axes if ax.images]
    assert titles == [f"class {name}" for name in classes]

    from mnistlab.reader.prediction import predict_logits

    logits = predict_logits(model, fashion.test.images[:500])
    gallery = visualize.misclassified_gallery(
        fashion.test.images[:500], fashion.test.labels[:500], logits, n=4, classes=classes
    )
    first = next(ax for ax in gallery.axes if ax.images).get_title()
    index, predicted, _ = visualize.confident_mistakes(logits, fashion.test.labels[:500], 1)
    assert first.startswith(
        f"true {classes[int(fashion.test.labels[int(index[0])])]}, said {classes[int(predicted[0])]}"
    )
    assert "test images" in gallery._suptitle.get_text()


# --- predict: the dataset's own pre-processing ---------------------------------------------


def test_fashion_conversion_recovers_what_the_model_knows(fashion: Dataset, fashion_run: Path):
    """Product-photo versions of test images, converted the publisher's way, are read almost as
    well as the originals; MNIST's digit pre-processing of the same photos is far worse."""
    model, _ = ckpt.load_model(fashion_run)
    images, labels = fashion.test.images[:300].numpy(), fashion.test.labels[:300].numpy()
    photos = [_photo(image) for image in images]

    def accuracy(batch: np.ndarray) -> float:
        return float(np.mean([p.label for p in classify(model, batch)] == labels))

    as_objects = np.stack([preprocess_object(photo) for photo in photos])
    as_digits = np.stack([preprocess(photo) for photo in photos])
    original = accuracy(images)  # 0.773 for this run (seed 0)
    assert accuracy(as_objects) > original - 0.05  # measured 0.747
    assert accuracy(as_digits) < original - 0.15  # measured 0.463
    # The whole object fills the field: the longer side of its bounding box is 28 px.
    ink = as_objects[0] > 0
    assert max(np.ptp(np.flatnonzero(ink.any(1))), np.ptp(np.flatnonzero(ink.any(0)))) + 1 == 28


def test_predict_names_the_class_and_the_preprocessing(
    capsys, fashion: Dataset, fashion_run: Path, tmp_path: Path
):
    path = tmp_path / "boot.png"
    _photo(fashion.test.images[0].numpy()).save(path)  # test image 0 is an ankle boot
    assert int(fashion.test.labels[0]) == 9
    assert main(["predict", str(fashion_run), str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["preprocessing"]["name"] == OBJECTS.name and out["dataset"] == "fashion-mnist"
    (row,) = out["predictions"][0]["digits"]
    model, _ = ckpt.load_model(fashion_run)
    (expected,) = classify(model, preprocess_object(Image.open(path))[None])
    assert (row["label"], row["class"]) == (expected.label, FASHION_MNIST.classes[expected.label])
    assert main(["predict", str(fashion_run), str(path)]) == 0
    said, line = capsys.readouterr().out.splitlines()
    assert said.startswith("Pre-processing for Fashion-MNIST: Fashion-MNIST's conversion")
    assert line.startswith(f"{path}: {expected.label} {FASHION_MNIST.classes[expected.label]}  (top 3: ")


# --- serve ---------------------------------------------------------------------------------


def test_serve_shows_class_names_and_converts_the_fashion_way(
    fashion: Dataset, fashion_run: Path, softmax_run: Path
):
    from fastapi.testclient import TestClient

    from mnistlab.serve import create_app, load_served_models

    with pytest.raises(UsageError, match="runs read together must share one dataset"):
        load_served_models([fashion_run, softmax_run])
    client = TestClient(create_app(load_served_models([fashion_run])), base_url="http://127.0.0.1")
    listed = client.get("/api/models").json()
    assert listed["dataset"]["classes"] == list(FASHION_MNIST.classes)
    assert listed["dataset"]["prompt"] == "Draw one of: " + ", ".join(FASHION_MNIST.classes) + "."
    assert "digit" not in listed["dataset"]["prompt"]

    buffer = io.BytesIO()
    photo = _photo(fashion.test.images[1].numpy())
    photo.save(buffer, format="PNG")
    answer = client.post("/api/predict", files={"image": ("x.png", buffer.getvalue(), "image/png")}).json()
    (read,) = answer["models"][0]["digits"]
    assert read["input"] == preprocess_object(photo).tolist()
    assert len(read["probabilities"]) == 10
    assert "draw a digit" not in client.get("/").text.lower()
