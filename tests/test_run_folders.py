"""Run folders are validated, not trusted: each bad file is one sentence naming it and its field."""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from safetensors.torch import load_file, save_file

from mnistlab.cli import main
from mnistlab.commands.common import print_json
from mnistlab.errors import CheckpointError
from mnistlab.models import pretrained
from mnistlab.reader import calibration_file
from mnistlab.reader.calibration import CALIBRATION_FILE, read_calibration, write_calibration
from mnistlab.reader.confidence import INVERSE_T_BOUNDS
from mnistlab.reader.reader import Reader
from mnistlab.runs import schema
from mnistlab.runs.checkpoint import read_json

WEIGHTS = "model-0001000.safetensors"  # the softmax_run fixture's last (and final) weights


def _edit(name: str, change: Callable[[dict], None]) -> Callable[[Path], None]:
    def mutate(run: Path) -> None:
        content = json.loads((run / name).read_text())
        change(content)
        (run / name).write_text(json.dumps(content))

    return mutate


def _temperature(value: str) -> Callable[[Path], None]:
    """Both temperatures of calibration.json set to the JSON text `value` (NaN included)."""

    def mutate(run: Path) -> None:
        content = json.loads((run / CALIBRATION_FILE).read_text())
        content["temperature"] = content["rule"]["temperature"] = "@"
        (run / CALIBRATION_FILE).write_text(json.dumps(content).replace('"@"', value))

    return mutate


def _weights_folder(run: Path) -> None:
    (run / WEIGHTS).unlink()
    (run / WEIGHTS).mkdir()


def _weights_fifo(run: Path) -> None:
    (run / WEIGHTS).unlink()
    os.mkfifo(run / WEIGHTS)


def _nan_weights(run: Path) -> None:
    tensors = load_file(run / WEIGHTS)
    save_file({k: v * math.nan for k, v in tensors.items()}, run / WEIGHTS, {"model": "softmax"})


def _weights_outside(run: Path) -> None:
    outside = run.parent / "outside.safetensors"
    shutil.copy(run / WEIGHTS, outside)
    (run / WEIGHTS).unlink()
    (run / WEIGHTS).symlink_to(outside)


def _results_fifo(run: Path) -> None:
    (run / "results.json").unlink()
    os.mkfifo(run / "results.json")


FIX = "restore it or train the run again."
RANGE = "should be between 0.01 and 100, the range it is fitted in"
RECALIBRATE = "remove it and run `mnistlab calibrate {run}`."
CASES = {
    "model_file out of the folder": (
        _edit("state.json", lambda s: s.update(model_file="../../../../etc/passwd")),
        "{run}/state.json is not a valid checkpoint state: model_file should be a file name inside the run "
        f"folder (found '../../../../etc/passwd'); {FIX}",
    ),
    "model_options a string": (
        _edit("config.json", lambda c: c["config"].update(model_options="wide")),
        f"{{run}}/config.json is not a valid run config: config.model_options should be an object (found 'wide'); {FIX}",
    ),
    "a negative width": (
        _edit("config.json", lambda c: c["config"].update(model_options={"widths": [-1, 32, 64]})),
        "{run}/config.json is not a valid run config: config.model_options.widths[0] should be greater than "
        f"or equal to 1 (found -1); {FIX}",
    ),
    "weights replaced by a folder": (
        _weights_folder,
        f"The checkpoint file {{run}}/{WEIGHTS} is not a regular file (a folder, device or pipe); the run "
        "folder is damaged.",
    ),
    "weights replaced by a pipe": (
        _weights_fifo,
        f"The checkpoint file {{run}}/{WEIGHTS} is not a regular file (a folder, device or pipe); the run "
        "folder is damaged.",
    ),
    "weights linked from outside": (
        _weights_outside,
        f"The checkpoint file {{run}}/{WEIGHTS} leads out of its run folder (to {{parent}}/outside.safetensors); "
        "it is not read.",
    ),
    "all-NaN weights": (
        _nan_weights,
        f"{{run}}/{WEIGHTS} holds weights that are not finite (NaN or infinity in linear.bias); the run "
        "diverged or the file is damaged, so it cannot be read.",
    ),
    "results a list": (
        lambda run: (run / "results.json").write_text("[1]"),
        f"{{run}}/results.json is not a valid results file: it should hold a JSON object (found [1]); {FIX}",
    ),
    "results a pipe": (
        _results_fifo,
        "The results file {run}/results.json is not a regular file (a folder, device or pipe); the run "
        "folder is damaged.",
    ),
    "results of 17 MiB": (
        lambda run: (run / "results.json").write_bytes(b" " * (17 * 2**20) + b"{}"),
        "The results file {run}/results.json is larger than 16 MiB; no run writes one so big.",
    ),
    "a config of another model": (
        _edit("config.json", lambda c: c["config"].update(model="cnn")),
        "{run}/config.json describes a model of 13,098,536 bytes of weights but "
        f"{{run}}/{WEIGHTS} holds {{size:,}} bytes; the config and the weights are not of one run.",
    ),
    'temperature "hot"': (
        _temperature('"hot"'),
        "{run}/calibration.json is not a calibration file mnistlab wrote: temperature should be a "
        f"valid number (found 'hot'); {RECALIBRATE}",
    ),
    "temperature NaN": (
        _temperature("NaN"),
        "{run}/calibration.json is not a calibration file mnistlab wrote: temperature should be a "
        f"finite number (found nan); {RECALIBRATE}",
    ),
    "temperature 0": (
        _temperature("0"),
        f"{{run}}/calibration.json is not a calibration file mnistlab wrote: temperature {RANGE} "
        f"(found 0); {RECALIBRATE}",
    ),
    "temperature -1": (
        _temperature("-1"),
        f"{{run}}/calibration.json is not a calibration file mnistlab wrote: temperature {RANGE} "
        f"(found -1); {RECALIBRATE}",
    ),
    "temperature 1e308": (
        _temperature("1e308"),
        f"{{run}}/calibration.json is not a calibration file mnistlab wrote: temperature {RANGE} "
        f"(found 1e+308); {RECALIBRATE}",
    ),
    "threshold NaN": (
        _edit(CALIBRATION_FILE, lambda c: c["rule"].update(threshold=math.nan)),
        "{run}/calibration.json is not a calibration file mnistlab wrote: rule.threshold should be a "
        f"finite number, or null for a rule that never abstains (found nan); {RECALIBRATE}",
    ),
}


def _snapshot(run: Path) -> dict[str, bytes | None]:
    return {p.name: p.read_bytes() if p.is_file() and not p.is_symlink() else None for p in run.iterdir()}


@pytest.fixture(scope="module")
def digit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("image") / "digit.png"
    Image.fromarray(np.full((28, 28), 9, dtype=np.uint8)).save(path)
    return path


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_run_folder_is_one_sentence_naming_the_file_and_field(
    case: str, softmax_run: Path, digit: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mutate, sentence = CASES[case]
    run = tmp_path / "run"
    shutil.copytree(softmax_run, run)
    mutate(run)
    before = _snapshot(run)
    assert main(["predict", str(run), str(digit)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    size = (run / WEIGHTS).lstat().st_size
    assert err == f"mnistlab: error: {sentence.format(run=run, parent=tmp_path.resolve(), size=size)}\n"
    assert _snapshot(run) == before  # nothing written, nothing removed


def test_the_temperature_bounds_are_the_range_the_fit_searches(softmax_run: Path, tmp_path: Path) -> None:
    assert (calibration_file.MIN_TEMPERATURE, calibration_file.MAX_TEMPERATURE) == (0.01, 100.0)
    fitted = tuple(1 / b for b in reversed(INVERSE_T_BOUNDS))
    assert fitted == (calibration_file.MIN_TEMPERATURE, calibration_file.MAX_TEMPERATURE)
    run = tmp_path / "run"
    shutil.copytree(softmax_run, run)
    for accepted in ("0.01", "100", "100.0"):
        _temperature(accepted)(run)
        assert read_calibration(run)["temperature"] == float(accepted)
    for refused in ("0.00999", "100.001", "Infinity", "true"):
        _temperature(refused)(run)
        with pytest.raises(CheckpointError, match="temperature should be"):
            read_calibration(run)


def _strict_json(text: str) -> object:
    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_a_rule_that_never_abstains_is_null_in_the_file_and_minus_infinity_when_read(
    softmax_run: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    shutil.copytree(softmax_run, run)
    record = read_calibration(run)
    never = {**record, "rule": {**record["rule"], "threshold": -math.inf, "quantile": 0.0}}
    write_calibration(run, never)
    assert _strict_json((run / CALIBRATION_FILE).read_text())["rule"]["threshold"] is None
    assert read_calibration(run)["rule"]["threshold"] == -math.inf
    assert Reader.from_run(run).rule.threshold == -math.inf
    # Files written before null meant "never" hold -Infinity; they still read.
    (run / CALIBRATION_FILE).write_text(json.dumps(never))
    assert "-Infinity" in (run / CALIBRATION_FILE).read_text()
    assert read_calibration(run)["rule"]["threshold"] == -math.inf


def test_print_json_prints_null_for_what_is_not_finite(capsys: pytest.CaptureFixture[str]) -> None:
    print_json({"b": [math.inf, -math.inf, 0.5], "a": math.nan, "c": (1, "x", None)})
    assert capsys.readouterr().out == (
        '{\n  "a": null,\n  "b": [\n    null,\n    null,\n    0.5\n  ],\n  "c": [\n    1,\n    "x",\n    null\n  ]\n}\n'
    )


def test_calibrate_with_quantile_0_prints_valid_json(
    softmax_run: Path, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    shutil.copytree(softmax_run, run)
    assert main(["calibrate", str(run), "--quantile", "0", "--json", "--data-dir", str(data_dir)]) == 0
    printed = _strict_json(capsys.readouterr().out)
    assert printed["rule"]["threshold"] is None and printed["rule"]["quantile"] == 0.0
    assert _strict_json((run / CALIBRATION_FILE).read_text())["rule"]["threshold"] is None
    assert read_calibration(run)["rule"]["threshold"] == -math.inf


def test_the_shipped_reader_passes_every_schema() -> None:
    run = pretrained.reader_run()
    for name in schema.SCHEMAS:
        assert read_json(run / name, name) is not None
    assert read_calibration(run) is not None  # calibration.json: the reader's schema


JSON_VALUES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.booleans(),
    st.none(),
    st.text(max_size=5),
    st.lists(st.floats(), max_size=2),
)


@settings(max_examples=150, deadline=None)
@given(temperature=JSON_VALUES, threshold=JSON_VALUES)
def test_any_temperature_and_threshold_read_sane_or_are_refused(
    temperature: object, threshold: object, softmax_run: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    run = tmp_path_factory.mktemp("hypothesis")
    shutil.copy(softmax_run / CALIBRATION_FILE, run / CALIBRATION_FILE)
    content = json.loads((run / CALIBRATION_FILE).read_text())
    content["temperature"] = content["rule"]["temperature"] = temperature
    content["rule"]["threshold"] = threshold
    (run / CALIBRATION_FILE).write_text(json.dumps(content))
    try:
        record = read_calibration(run)
    except CheckpointError as exc:
        assert str(exc).startswith(f"{run}/calibration.json is not a calibration file mnistlab wrote: ")
        return
    t, rule = record["temperature"], record["rule"]
    assert type(t) in (int, float) and 0.01 <= t <= 100
    assert type(rule["threshold"]) in (int, float)
    assert math.isfinite(rule["threshold"]) or rule["threshold"] == -math.inf
