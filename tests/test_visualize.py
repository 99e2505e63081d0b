"""Figures: each function draws what it is given (checked against the data), at the expected size."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mnistlab import visualize
from mnistlab.cli import main
from mnistlab.errors import UsageError
from mnistlab.models import create_model
from mnistlab.reader.prediction import predict_logits
from mnistlab.runs.checkpoint import load_model, read_results
from mnistlab.visualize.digits import _cell_text


def png_size(fig) -> tuple[int, int]:
    image = Image.open(io.BytesIO(visualize.figure_bytes(fig, "png")))
    pixels = np.asarray(image.convert("L"), dtype=np.float32)
    assert pixels.std() > 10, "the image is blank"
    return image.size


def expected_size(fig) -> tuple[int, int]:
    width, height = fig.get_size_inches()
    return round(width * visualize.DPI), round(height * visualize.DPI)


def test_save_figure_writes_the_format_its_extension_names(tmp_path: Path) -> None:
    fig = visualize.digit_grid(torch.zeros(2, 28, 28, dtype=torch.uint8), [3, 4])
    assert visualize.save_figure(fig, tmp_path / "a.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in visualize.save_figure(fig, tmp_path / "a.svg").read_bytes()[:1000]
    assert visualize.save_figure(fig, tmp_path / "a.pdf").read_bytes()[:5] == b"%PDF-"
    with pytest.raises(UsageError, match=r"\.jpg"):
        visualize.save_figure(fig, tmp_path / "a.jpg")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pdf", "a.png", "a.svg"]  # no temp files left


def test_digit_grid_titles_each_digit_with_its_label(mnist) -> None:
    fig = visualize.digit_grid(mnist.train.images[:16], mnist.train.labels[:16])
    shown = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in shown] == [f"label {int(y)}" for y in mnist.train.labels[:16]]
    assert torch.equal(torch.as_tensor(shown[5].images[0].get_array()), mnist.train.images[5])
    assert png_size(fig) == expected_size(fig) == (520, 570)


def test_digit_matrix_prints_every_nonzero_intensity(mnist) -> None:
    image = mnist.train.images[3]
    fig = visualize.digit_matrix(image, int(mnist.train.labels[3]))
    ax = fig.axes[0]
    nonzero = torch.nonzero(image).tolist()
    assert len(ax.texts) == len(nonzero)
    for text in ax.texts:
        col, row = (round(v) for v in text.get_position())
        assert abs(float(text.get_text()) - int(image[row, col]) / 255) <= 0.05
    assert str(int(mnist.train.labels[3])) in ax.get_title()
    assert ax.get_xlabel() and ax.get_ylabel() and len(fig.axes) == 2  # the heat map and its colour bar
    assert png_size(fig) == expected_size(fig) == (950, 850)


def test_softmax_weights_red_positive_blue_negative_on_a_symmetric_scale(softmax_run: Path) -> None:
    model, _ = load_model(softmax_run)
    weight = model.linear.weight.detach()
    fig = visualize.weights_figure(model)
    maps = [ax for ax in fig.axes if ax.images]
    assert len(maps) == 10 and len(fig.axes) == 11  # ten maps and one colour bar
    limit = float(weight.abs().max())
    for c, ax in enumerate(maps):
        im = ax.images[0]
        assert torch.allclose(torch.as_tensor(im.get_array()), weight[c].view(28, 28))
        assert im.get_clim() == pytest.approx((-limit, limit))
    im = maps[0].images[0]
    red, blue = im.cmap(im.norm(limit)), im.cmap(im.norm(-limit))
    assert red[0] > 0.9 and red[2] < 0.1 and blue[2] > 0.9 and blue[0] < 0.1
    assert png_size(fig) == expected_size(fig)


def test_cnn_weights_are_the_32_first_layer_filters() -> None:
    model = create_model("cnn")
    fig = visualize.weights_figure(model)
    maps = [ax for ax in fig.axes if ax.images]
    assert len(maps) == 32
    assert torch.allclose(torch.as_tensor(maps[7].images[0].get_array()), model.conv1.weight[7, 0].detach())
    assert png_size(fig) == expected_size(fig)


def test_training_curves_plot_the_metrics(softmax_run: Path) -> None:
    records = [json.loads(line) for line in (softmax_run / "metrics.jsonl").read_text().splitlines()]
    fig = visualize.training_curves(records)
    loss_line, val_line = fig.axes[0].lines[0], fig.axes[1].lines[0]
    assert list(loss_line.get_xdata()) == [r["step"] for r in records]
    assert list(loss_line.get_ydata()) == [r["loss"] for r in records]
    evaluated = [r for r in records if r["evaluated"]]
    assert list(val_line.get_xdata()) == [r["step"] for r in evaluated] == list(range(100, 1001, 100))
    assert list(val_line.get_ydata()) == pytest.approx([100 * r["val_accuracy"] for r in evaluated])
    assert png_size(fig) == expected_size(fig) == (1000, 380)


def test_confusion_figure_prints_the_counts(softmax_run: Path) -> None:
    test = read_results(softmax_run)["test"]
    fig = visualize.confusion_figure(test["confusion"], [str(c) for c in range(10)])
    ax = fig.axes[0]
    printed = {(round(t.get_position()[1]), round(t.get_position()[0])): int(t.get_text()) for t in ax.texts}
    expected = {(r, c): n for r, row in enumerate(test["confusion"]) for c, n in enumerate(row) if n}
    assert printed == expected
    assert f"{test['errors']:,} errors" in ax.get_title()
    assert png_size(fig) == expected_size(fig)


def test_confident_mistakes_ranks_wrong_answers_by_probability() -> None:
    logits = torch.tensor([[5.0, 0.0], [0.0, 1.0], [3.0, 0.0], [0.0, 9.0]])
    labels = torch.tensor([0, 0, 1, 1])  # rows 1 and 2 are wrong; row 2 more confidently
    index, predicted, probability = visualize.confident_mistakes(logits, labels, n=5)
    assert index.tolist() == [2, 1]
    assert predicted.tolist() == [0, 1]
    assert probability.tolist() == pytest.approx([1 / (1 + torch.e**-3), 1 / (1 + torch.e**-1)])


def test_misclassified_gallery_shows_wrong_predictions(softmax_run: Path, mnist) -> None:
    model, _ = load_model(softmax_run)
    logits = predict_logits(model, mnist.test.images)
    fig = visualize.misclassified_gallery(mnist.test.images, mnist.test.labels, logits, n=8)
    titles = [ax.get_title() for ax in fig.axes if ax.images]
    assert len(titles) == 8
    for title in titles:
        true, said = (int(part.split()[-1]) for part in title.splitlines()[0].split(", "))
        assert true != said
    assert png_size(fig) == expected_size(fig)


def test_cli_show_and_weights_save_figures(tmp_path: Path, data_dir: Path, softmax_run: Path) -> None:
    grid, matrix, weights = tmp_path / "g.png", tmp_path / "m.svg", tmp_path / "w.pdf"
    data = ["--data-dir", str(data_dir)]
    assert main(["show", "--n", "6", "--split", "test", "--seed", "1", "--out", str(grid), *data]) == 0
    assert Image.open(grid).size == (400, 310)  # 3 x 2 digits
    assert main(["show", "--index", "7", "--matrix", "--out", str(matrix), *data]) == 0
    assert b"<svg" in matrix.read_bytes()[:1000]
    assert main(["weights", str(softmax_run), "--out", str(weights)]) == 0
    assert weights.read_bytes()[:5] == b"%PDF-"


def test_cli_reports_bad_input_in_one_line(tmp_path: Path, data_dir: Path, capsys) -> None:
    assert main(["show", "--out", str(tmp_path / "x.gif"), "--data-dir", str(data_dir)]) == 2
    assert main(["weights", str(tmp_path / "missing")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and ".gif" in err[0] and "missing" in err[1]


@pytest.mark.parametrize(
    ("value", "text"), [(0.6, ".6"), (1.0, "1"), (0.97, "1"), (0.02, ".02"), (1 / 255, ".004"), (0.05, ".1")]
)
def test_matrix_cells_are_written_the_papers_way(value: float, text: str) -> None:
    assert _cell_text(value) == text
