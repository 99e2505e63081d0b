"""Start-up: a command imports only what it uses; help still lists every command."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mnistlab.cli import COMMANDS, build_parser, requested_command

from .conftest import REPO

# Heavy or optional imports that `mnistlab train` never uses.
NOT_FOR_TRAINING = (
    "matplotlib",
    "PIL",
    "fastapi",
    "uvicorn",
    "onnx",
    "mnistlab.report",
    "mnistlab.inference",
    "mnistlab.export",
    "mnistlab.visualize",
    "mnistlab.bench.suite",
    "torch.utils.flop_counter",
)


def test_the_requested_command_is_found_past_top_level_options() -> None:
    assert requested_command(["train", "cnn", "--recipe", "fast"]) == "train"
    assert requested_command(["--debug", "bench", "--quick"]) == "bench"
    assert requested_command(["--help"]) is None
    assert requested_command(["trian", "cnn"]) is None  # a typo gets the full parser's error
    assert requested_command([]) is None


def test_help_lists_every_command() -> None:
    text = build_parser().format_help()
    assert all(name in text for name in COMMANDS)


@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_a_training_command_imports_nothing_it_does_not_use(command: str) -> None:
    code = (
        "import sys\n"
        "from mnistlab.cli import build_parser, requested_command\n"
        f"build_parser(requested_command([{command!r}, 'x']))\n"
        f"print(','.join(m for m in {NOT_FOR_TRAINING!r} if m in sys.modules))\n"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == ""


def test_importing_the_package_loads_none_of_its_parts() -> None:
    # The faces are lazy: `import mnistlab` runs no submodule, and a name loads only its module.
    code = (
        "import sys, mnistlab\n"
        "before = sorted(m for m in sys.modules if m.startswith('mnistlab.'))\n"
        "mnistlab.resolve_config\n"
        "after = sorted(m for m in sys.modules if m.startswith('mnistlab.'))\n"
        "heavy = [m for m in ('torch', 'PIL', 'matplotlib', 'fastapi', 'onnx') if m in sys.modules]\n"
        "print(before, after, heavy)\n"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[] ['mnistlab.config', 'mnistlab.errors', 'mnistlab.recipes'] []"


def test_a_typo_is_still_a_one_line_usage_error(capsys) -> None:
    from mnistlab.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["trian"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'trian'" in capsys.readouterr().err


def test_the_startup_script_times_a_real_first_step(data_dir) -> None:
    # scripts/startup_time.py backs the README's start-up figure; it hooks a private function.
    env = {**os.environ, "MNISTLAB_DATA": str(data_dir)}
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "startup_time.py"), "1"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    *runs, summary = done.stdout.strip().splitlines()
    assert len(runs) == 1 and runs[0].startswith("import torch ")
    assert summary.startswith("median after import torch: ") and float(summary.split()[-5]) > 0
