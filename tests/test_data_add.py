"""`mnistlab data add|list|remove`: a person's own IDX dataset, validated and recorded by content."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest

from mnistlab.cli import main
from mnistlab.data import load_dataset, write_idx
from mnistlab.data.registry import get_dataset_spec, user_dataset_path
from mnistlab.data.userdata import default_validation_size


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.delenv("MNISTLAB_DATA", raising=False)


def _config_snapshot() -> dict[str, bytes]:
    root = Path(os.environ["XDG_CONFIG_HOME"])
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _arrays(n_train: int = 300, n_test: int = 50, classes: int = 3, side: int = 28) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    return {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, side, side), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, classes, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, side, side), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, classes, n_test, dtype=np.uint8),
    }


def _folder(directory: Path, arrays: dict[str, np.ndarray] | None = None) -> Path:
    """Training files gzip-compressed, test files plain: both kinds must be accepted."""
    for name, array in (arrays or _arrays()).items():
        write_idx(directory / (f"{name}.gz" if name.startswith("train") else name), array)
    return directory


def _error(capsys, argv: list[str]) -> str:
    """Run a command that must fail: exit 1, one line, no traceback; returns the message."""
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0].removeprefix("mnistlab: error: ")


def test_add_records_content_digests_and_the_dataset_works_everywhere(capsys, tmp_path: Path):
    arrays = _arrays()
    folder = _folder(tmp_path / "mine", arrays)
    assert main(["data", "add", "pets", str(folder), "--classes", "cat, dog,bird"]) == 0
    out = capsys.readouterr().out
    assert "Added 'pets'" in out and "3 classes (cat, dog, bird)" in out

    record = json.loads(user_dataset_path("pets").read_text())
    for name, array in arrays.items():
        role = ("train" if name.startswith("train") else "test") + (
            "_images" if "images" in name else "_labels"
        )
        header = bytes([0, 0, 8, array.ndim]) + b"".join(n.to_bytes(4, "big") for n in array.shape)
        assert record["files"][role] == {
            "filename": name,
            "sha256": hashlib.sha256(header + array.tobytes()).hexdigest(),
        }
        assert hashlib.sha256(header + array.tobytes()).hexdigest() in out
    assert record["folder"] == str(folder) and record["classes"] == ["cat", "dog", "bird"]

    data = load_dataset("pets")
    assert data.classes == ("cat", "dog", "bird") and data.num_classes == 3
    assert (len(data.val), len(data.train), len(data.test)) == (30, 270, 50)  # val = 300 // 10
    assert np.array_equal(data.val.images.numpy(), arrays["train-images-idx3-ubyte"][:30])
    assert data.source is not None and data.source.source == "registered folder"
    assert data.record()["source"] == "added"

    assert main(["data", "list", "--json"]) == 0
    listed = {row["name"]: row for row in json.loads(capsys.readouterr().out)["datasets"]}
    assert listed["pets"]["source"] == "added" and listed["pets"]["folder"] == str(folder)
    assert listed["fashion-mnist"]["source"] == "built-in" and listed["mnist"]["classes"][0] == "0"

    assert main(["data", "info", "--dataset", "pets", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["splits"]["test"]["count"] == 50

    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert main(["data", "remove", "pets"]) == 0
    assert "its files in" in capsys.readouterr().out
    assert not user_dataset_path("pets").exists()
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # never deleted


def test_classes_file_val_size_and_default_class_names(capsys, tmp_path: Path):
    folder = _folder(tmp_path / "mine")
    names = tmp_path / "classes.txt"
    names.write_text("cat\ndog\n\nbird\n")
    assert main(["data", "add", "pets", str(folder), "--classes-file", str(names), "--val-size", "100"]) == 0
    spec = get_dataset_spec("pets")
    assert spec.classes == ("cat", "dog", "bird") and spec.validation_size == 100
    assert main(["data", "add", "numbers", str(_folder(tmp_path / "other", _arrays(classes=4)))]) == 0
    assert get_dataset_spec("numbers").classes == ("0", "1", "2", "3")  # up to the largest label


def test_default_validation_size():
    assert default_validation_size(60000) == 5000
    assert default_validation_size(300) == 30


def _wrong_magic(arrays, folder):
    path = folder / "t10k-labels-idx1-ubyte"
    path.write_bytes(b"\x01\x02" + path.read_bytes()[2:])


def _big_images(arrays, folder):
    write_idx(folder / "t10k-images-idx3-ubyte", np.zeros((50, 32, 32), np.uint8))


def _label_12(arrays, folder):
    labels = arrays["train-labels-idx1-ubyte"].copy()
    labels[5] = 12
    write_idx(folder / "train-labels-idx1-ubyte.gz", labels)


def _count_mismatch(arrays, folder):
    write_idx(folder / "t10k-labels-idx1-ubyte", arrays["t10k-labels-idx1-ubyte"][:-1])


def _missing(arrays, folder):
    (folder / "t10k-labels-idx1-ubyte").unlink()


def _corrupt_gzip(arrays, folder):
    path = folder / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:200])


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (_wrong_magic, "t10k-labels-idx1-ubyte is not an IDX file: it starts with bytes 01 02 08 01"),
        (_big_images, "t10k-images-idx3-ubyte holds 32x32 images; mnistlab's models take 28x28"),
        (_label_12, "train-labels-idx1-ubyte.gz holds label 12, but only 10 classes were given (labels 0-9)"),
        (_count_mismatch, "t10k-labels-idx1-ubyte holds 49 labels but"),
        (_missing, "lacks t10k-labels-idx1-ubyte (plain or .gz)"),
        (_corrupt_gzip, "train-images-idx3-ubyte.gz is not a valid gzip stream"),
    ],
)
def test_bad_folders_are_refused_in_one_sentence_and_nothing_is_written(
    capsys, tmp_path: Path, damage, expected
):
    arrays = _arrays(classes=10)
    folder = _folder(tmp_path / "mine", arrays)
    damage(arrays, folder)
    before = _config_snapshot()
    message = _error(capsys, ["data", "add", "mine", str(folder), "--classes", ",".join("abcdefghij")])
    assert expected in message
    assert message.endswith(".") and message.count(". ") == 0
    assert _config_snapshot() == before == {}


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["data", "add", "mnist", "{folder}"], "'mnist' is a built-in dataset; choose another name"),
        (["data", "add", "My Data", "{folder}"], "Dataset name 'My Data' is not allowed"),
        (
            ["data", "add", "x", "{folder}", "--classes", "a"],
            "--classes gives 1 class names; a dataset needs 2 to 256.",
        ),
        (["data", "add", "x", "{folder}", "--classes", "a,b,a"], "--classes names class 'a' more than once"),
        (
            ["data", "add", "x", "{folder}", "--val-size", "300"],
            "The validation size must be between 1 and 299",
        ),
        (["data", "add", "x", "{folder}/absent"], "does not exist"),
        (["data", "remove", "nothing"], "No dataset 'nothing' was added"),
        (["data", "remove", "fashion-mnist"], "'fashion-mnist' is built in and cannot be removed"),
    ],
)
def test_bad_requests_are_refused(capsys, tmp_path: Path, argv, expected):
    folder = _folder(tmp_path / "mine")
    message = _error(capsys, [a.replace("{folder}", str(folder)) for a in argv])
    assert expected in message
    assert _config_snapshot() == {}


def test_a_registered_datasets_files_are_named_not_added(capsys, data_dir: Path):
    message = _error(capsys, ["data", "add", "clothes", str(data_dir / "fashion-mnist")])
    assert message == (
        f"The files in {data_dir / 'fashion-mnist'} are Fashion-MNIST, already registered as "
        f"'fashion-mnist'; use --dataset fashion-mnist."
    )
    assert _config_snapshot() == {}


def test_a_file_changed_after_adding_is_a_checksum_error_naming_it(capsys, tmp_path: Path):
    arrays = _arrays()
    folder = _folder(tmp_path / "mine", arrays)
    assert main(["data", "add", "pets", str(folder), "--classes", "cat,dog,bird"]) == 0
    capsys.readouterr()
    labels = arrays["t10k-labels-idx1-ubyte"].copy()
    labels[0] = (labels[0] + 1) % 3
    write_idx(folder / "t10k-labels-idx1-ubyte", labels)
    before = _config_snapshot()
    message = _error(capsys, ["data", "info", "--dataset", "pets"])
    assert message.startswith(f"Dataset file {folder / 't10k-labels-idx1-ubyte'} fails its checksum")
    assert "it changed since `mnistlab data add pets` recorded it" in message
    assert "delete" not in message
    assert _config_snapshot() == before


def test_a_moved_folder_and_a_data_dir_override(capsys, tmp_path: Path):
    folder = _folder(tmp_path / "mine")
    assert main(["data", "add", "pets", str(folder)]) == 0
    capsys.readouterr()
    moved = folder.rename(tmp_path / "moved")
    message = _error(capsys, ["data", "info", "--dataset", "pets"])
    assert f"The folder {folder} that dataset 'pets' was added from is gone" in message
    assert main(["data", "info", "--dataset", "pets", "--data-dir", str(moved), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["source"] == "--data-dir"


def test_a_corrupt_record_is_reported_and_can_be_removed(capsys, tmp_path: Path):
    path = user_dataset_path("broken")
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    message = _error(capsys, ["data", "info", "--dataset", "broken"])
    assert "is corrupt" in message and "mnistlab data remove broken" in message
    assert main(["data", "list"]) == 0
    assert "broken" in capsys.readouterr().out
    assert main(["data", "remove", "broken"]) == 0
    assert not path.exists()


def test_the_same_content_plain_or_gzip_is_the_same_dataset(capsys, tmp_path: Path):
    arrays = _arrays()
    plain = _folder(tmp_path / "a", arrays)
    for name in list(arrays)[:2]:
        (plain / name).write_bytes(gzip.decompress((plain / f"{name}.gz").read_bytes()))
        (plain / f"{name}.gz").unlink()
    assert main(["data", "add", "plain", str(plain)]) == 0
    capsys.readouterr()
    message = _error(capsys, ["data", "add", "gz", str(_folder(tmp_path / "b", arrays))])
    assert message.endswith("are plain, already registered as 'plain'; use --dataset plain.")


def test_a_record_copied_under_another_name_is_not_trusted(capsys, tmp_path: Path):
    assert main(["data", "add", "pets", str(_folder(tmp_path / "mine"))]) == 0
    capsys.readouterr()
    user_dataset_path("copy").write_bytes(user_dataset_path("pets").read_bytes())
    message = _error(capsys, ["data", "info", "--dataset", "copy"])
    assert "is not one mnistlab wrote (name 'pets' in copy.json)" in message
