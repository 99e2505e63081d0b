"""The command line: help everywhere, one-line errors with the right exit status, JSON output."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import numpy as np
import pytest

from mnistlab.cli import build_parser, main
from mnistlab.data import write_idx
from mnistlab.data.splits import _read_pair
from mnistlab.errors import DataError

FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def _snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")} if root.exists() else set()


def _one_line_error(capsys, argv: list[str], status: int) -> str:
    assert main(argv) == status
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_help_on_every_subcommand(capsys) -> None:
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert {"train", "evaluate", "data"} <= set(commands)
    for name in commands:
        with pytest.raises(SystemExit) as exit_info:
            main([name, "--help"])
        assert exit_info.value.code == 0
        assert "usage: mnistlab" in capsys.readouterr().out


def test_usage_errors_exit_2_with_one_line(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "softmax", "--steps", "many"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "mnistlab train: error: argument --steps: invalid int value: 'many' (see `mnistlab train --help`)."
    ]
    line = _one_line_error(capsys, ["train", "softmax", "--steps", "0"], 2)
    assert line == "mnistlab: error: steps must be a positive integer, got 0."
    line = _one_line_error(capsys, ["train", "softmax", "--resume", "x", "--lr", "1"], 2)
    assert "--lr cannot be combined with --resume" in line


@pytest.fixture
def broken_copy(tmp_path: Path, data_dir: Path) -> Path:
    """A data folder with links to the real files; tests replace one with a bad copy."""
    folder = tmp_path / "data"
    folder.mkdir()
    for name in FILES:
        (folder / f"{name}.gz").symlink_to(data_dir / "mnist" / f"{name}.gz")
    return folder


def _replace(folder: Path, name: str, payload: bytes) -> None:
    (folder / f"{name}.gz").unlink()
    (folder / f"{name}.gz").write_bytes(payload)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("truncated", "is a corrupt gzip stream"),
        ("wrong_magic", "fails its checksum (SHA-256 of the decompressed content: expected 65a50cbb"),
        ("corrupt_gzip", "is a corrupt gzip stream"),
        ("wrong_content", "fails its checksum"),
        ("missing", "holds only some of the mnist files: train-labels-idx1-ubyte (plain or .gz) are missing"),
    ],
)
def test_bad_data_ends_in_one_line_and_leaves_the_cache_untouched(
    capsys, broken_copy: Path, damage: str, message: str
) -> None:
    good = gzip.decompress((broken_copy / "train-labels-idx1-ubyte.gz").read_bytes())
    payload = {
        "truncated": gzip.compress(good)[:-100],
        "wrong_magic": gzip.compress(b"\x01\x02" + good[2:]),
        "corrupt_gzip": b"\x1f\x8b\x08\x00" + os.urandom(64),
        "wrong_content": gzip.compress(good[:-1] + bytes([(good[-1] + 1) % 10])),
    }.get(damage)
    if payload is None:
        (broken_copy / "train-labels-idx1-ubyte.gz").unlink()
    else:
        _replace(broken_copy, "train-labels-idx1-ubyte", payload)
    cache = Path(os.environ["XDG_CACHE_HOME"])
    before = _snapshot(cache)
    line = _one_line_error(capsys, ["data", "info", "--data-dir", str(broken_copy)], 1)
    assert line.startswith("mnistlab: error: ") and message in line
    if damage != "missing":
        assert "train-labels-idx1-ubyte.gz" in line
    assert _snapshot(cache) == before


def test_missing_or_unusable_data_directories(capsys, tmp_path: Path) -> None:
    line = _one_line_error(capsys, ["data", "info", "--data-dir", str(tmp_path / "absent")], 1)
    assert str(tmp_path / "absent") in line and "does not exist" in line
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    line = _one_line_error(capsys, ["data", "info", "--data-dir", str(not_a_dir)], 1)
    assert str(not_a_dir) in line
    line = _one_line_error(capsys, ["data", "info", "--data-dir", str(tmp_path)], 1)
    assert "holds no mnist files" in line


def test_mismatched_image_and_label_counts(tmp_path: Path) -> None:
    write_idx(tmp_path / "i.gz", np.zeros((3, 28, 28), np.uint8))
    write_idx(tmp_path / "l.gz", np.zeros(2, np.uint8))
    with pytest.raises(DataError, match=r"holds 3 images but .*l.gz holds 2 labels"):
        _read_pair(tmp_path / "i.gz", tmp_path / "l.gz")


def test_data_info_json(capsys, data_dir: Path) -> None:
    assert main(["data", "info", "--data-dir", str(data_dir / "mnist"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["source"] == "--data-dir"
    assert {k: v["count"] for k, v in info["splits"].items()} == {"train": 55000, "val": 5000, "test": 10000}
    assert sum(info["splits"]["test"]["labels"].values()) == 10000
    assert info["splits"]["test"]["labels"]["1"] == 1135  # LeCun's table: 1,135 ones in the test set


def test_train_json_then_evaluate_agree(capsys, tmp_path: Path, data_dir: Path) -> None:
    run = tmp_path / "run"
    argv = [
        "train",
        "softmax",
        "--steps",
        "50",
        "--seed",
        "1",
        "--out",
        str(run),
        "--json",
        "--data-dir",
        str(data_dir),
    ]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    result = json.loads(out)
    assert 0.8 < result["test_accuracy"] < 1 and result["steps"] == 50
    # stderr is not a terminal here: one plain progress line per report, no bar redraws.
    assert "\r" not in err and err.startswith("softmax (softmax): step 50/50 | loss ")
    saved = json.loads((run / "results.json").read_text())
    assert saved["test_accuracy"] == result["test_accuracy"]
    assert json.loads((run / "config.json").read_text())["config"]["steps"] == 50
    assert main(["evaluate", str(run), "--json", "--data-dir", str(data_dir)]) == 0
    evaluation = json.loads(capsys.readouterr().out)
    assert evaluation["accuracy"] == result["test_accuracy"]
    assert evaluation["confusion"] == result["test"]["confusion"]
    # A second train into the same folder must not clobber it.
    line = _one_line_error(capsys, argv, 2)
    assert f"{run} already holds a run; pass --resume {run}" in line


def test_the_script_entry_keeps_exit_status_output_and_atexit_callbacks(tmp_path: Path) -> None:
    # `entry` ends the process with os._exit after main(): the status, everything printed
    # (through a pipe, so buffered) and the atexit callbacks must survive that.
    import subprocess
    import sys

    code = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('atexit ran'))\n"
        "from mnistlab.cli import entry\n"
        "sys.argv = ['mnistlab', *sys.argv[1:]]\n"
        "entry()\n"
    )
    ok = subprocess.run([sys.executable, "-c", code, "--version"], capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout.splitlines()[-1] == "atexit ran"
    assert ok.stdout.startswith("mnistlab ")
    bad = subprocess.run(
        [sys.executable, "-c", code, "show", str(tmp_path / "nope")], capture_output=True, text=True
    )
    assert bad.returncode != 0 and bad.stdout == "atexit ran\n"
    assert bad.stderr.count("\n") == 1 and bad.stderr.startswith("mnistlab: error:")
    module = subprocess.run([sys.executable, "-m", "mnistlab", "--version"], capture_output=True, text=True)
    assert module.returncode == 0 and module.stdout == ok.stdout.splitlines()[0] + "\n"
