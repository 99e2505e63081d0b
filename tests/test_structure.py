"""The training package's seams hold: one module knows torch.distributed, the loop knows no ranks.

One process and torchrun's many differ only in the primitives of `mnistlab.training.strategy`'s
`Strategy` (the collectives, the device and the model's wrapper); `mnistlab.training.ddp` answers
them with torch.distributed, and everything else, the training loop above all, calls the
`Strategy` and never asks which it has. Read from the source with `ast`, like the import-cycle
test: nothing is imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[1] / "src" / "mnistlab"
STRATEGY = PACKAGE_ROOT / "training" / "strategy.py"
DDP = PACKAGE_ROOT / "training" / "ddp.py"
DDP_MAX_LINES = 180  # the torchrun module holds only the collectives, not what is built on them
# What one process and torchrun's group answer differently; all else is written once on these.
PRIMITIVES = {"device", "wrap", "all_reduce", "all_gather", "barrier", "close"}
LOOP = PACKAGE_ROOT / "training" / "loop.py"
# Modules and names that are torch's data-parallel machinery.
DISTRIBUTED_MODULES = ("torch.distributed", "torch.nn.parallel")
DISTRIBUTED_NAMES = {"DistributedDataParallel", "distributed"}


def distributed_uses(source: str) -> list[str]:
    """What in `source` imports or names torch.distributed or DDP (docstrings do not count)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith(DISTRIBUTED_MODULES)]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.startswith(DISTRIBUTED_MODULES):
                found.append(node.module)
            elif node.module.startswith("torch"):
                found += [f"{node.module}.{a.name}" for a in node.names if a.name in DISTRIBUTED_NAMES]
        elif isinstance(node, ast.Attribute) and node.attr == "DistributedDataParallel":
            found.append(node.attr)
        elif (
            isinstance(node, ast.Attribute)
            and node.attr == "parallel"
            and _dotted(node.value) in ("nn", "torch.nn")
        ):
            found.append("torch.nn.parallel")
        elif (
            isinstance(node, ast.Attribute) and node.attr == "distributed" and _dotted(node.value) == "torch"
        ):
            found.append("torch.distributed")
    return found


def _dotted(node: ast.expr) -> str:
    """`a.b.c` for a chain of names and attributes, "" for anything else."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and (base := _dotted(node.value)):
        return f"{base}.{node.attr}"
    return ""


def test_only_the_ddp_module_knows_torch_distributed_in_at_most_180_lines() -> None:
    offenders = {
        str(path.relative_to(PACKAGE_ROOT)): uses
        for path in sorted(PACKAGE_ROOT.rglob("*.py"))
        if path != DDP and (uses := distributed_uses(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}
    source = DDP.read_text(encoding="utf-8")
    assert source.count("\n") <= DDP_MAX_LINES
    # The check sees what it looks for: the ddp module itself is found.
    assert "torch.distributed" in distributed_uses(source)
    assert distributed_uses("from torch.nn.parallel import DistributedDataParallel") != []
    assert distributed_uses("import torch\ntorch.distributed.barrier()") != []
    assert distributed_uses("from torch import nn\nnn.parallel.DataParallel") != []
    assert distributed_uses("args.parallel, torch.nn.Linear") == []


def strategy_methods(source: str) -> dict[str, set[str]]:
    """The public methods each class of `source` defines, for `Strategy` and its subclasses;
    the abstract ones of `Strategy` under "abstract"."""
    found: dict[str, set[str]] = {}
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.ClassDef):
            continue
        bases = {_dotted(base) for base in node.bases}
        methods = [f for f in node.body if isinstance(f, ast.FunctionDef) and not f.name.startswith("_")]
        if node.name == "Strategy":
            found["abstract"] = {
                f.name for f in methods if any(_dotted(d) == "abstractmethod" for d in f.decorator_list)
            }
        elif "Strategy" in bases:
            found[node.name] = {f.name for f in methods}
    return found


def test_one_process_and_torchrun_differ_only_in_the_primitives() -> None:
    found = strategy_methods(STRATEGY.read_text(encoding="utf-8")) | strategy_methods(
        DDP.read_text(encoding="utf-8")
    )
    assert found == {"abstract": PRIMITIVES, "SingleProcess": PRIMITIVES, "TorchrunDDP": PRIMITIVES}
    # The check sees what it looks for: a subclass that writes an operation of its own.
    extra = "class Group(Strategy):\n    def wrap(self, m): ...\n    def batch_stats(self, x): ...\n"
    assert strategy_methods(extra) == {"Group": {"wrap", "batch_stats"}}


def test_the_training_loop_does_not_mention_ranks() -> None:
    text = LOOP.read_text(encoding="utf-8")
    assert "rank" not in text.lower()
    assert "is_main" not in text and "writes is not None" not in text


# Issue 21's bounds: modules readable top to bottom, functions that fit on a screen.
MAX_MODULE_LINES = 300
MAX_FUNCTION_LINES = 85
TOP_LEVEL_MODULES = 9  # 8 at issue 21, + recipes.py (the recipe table outgrew config.py)


def test_no_module_is_over_300_lines_and_no_function_over_85() -> None:
    long_modules, long_functions = [], []
    for path in sorted(PACKAGE_ROOT.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        if source.count("\n") > MAX_MODULE_LINES:
            long_modules.append(f"{path.relative_to(PACKAGE_ROOT)}: {source.count(chr(10))}")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long_functions.append(f"{path.relative_to(PACKAGE_ROOT)}:{node.name}: {length}")
    assert long_modules == [] and long_functions == []


def test_the_top_of_the_package_holds_only_shared_leaves() -> None:
    top = sorted(p.name for p in PACKAGE_ROOT.glob("*.py"))
    assert len(top) <= TOP_LEVEL_MODULES, top
    packages = sorted(p.name for p in PACKAGE_ROOT.iterdir() if (p / "__init__.py").is_file())
    for expected in ("data", "models", "training", "runs", "evaluation", "inference", "export"):
        assert expected in packages


# The command line: a module of commands/ that `cli` registers is a command; the others
# (common, progress, the flag helpers, a command's report printers) are its helpers.
COMMANDS_DIR = PACKAGE_ROOT / "commands"
TESTS_DIR = Path(__file__).resolve().parent


def registered_commands() -> set[str]:
    """The names in cli.py's COMMANDS tuple, read from the source."""
    for node in ast.walk(ast.parse((PACKAGE_ROOT / "cli.py").read_text(encoding="utf-8"))):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "COMMANDS" for t in node.targets):
            return {element.value for element in node.value.elts}
    raise AssertionError("cli.py has no COMMANDS tuple")


def commands_imported(source: str) -> dict[str, str]:
    """The modules of mnistlab.commands that `source` imports (inside functions too): local name -> module."""
    found: dict[str, str] = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("mnistlab.commands."):
                    found[alias.asname or alias.name] = alias.name.split(".")[2]
        elif isinstance(node, ast.ImportFrom) and node.module == "mnistlab.commands":
            found.update({alias.asname or alias.name: alias.name for alias in node.names})
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mnistlab.commands."):
            found[f"from {node.module}"] = node.module.split(".")[2]
    return found


def private_command_names(source: str) -> list[str]:
    """Private names (`_x`) of mnistlab.commands modules that `source` imports or reads off a module."""
    modules = {name for name in commands_imported(source) if not name.startswith("from ")}
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mnistlab.commands"):
            found += [f"{node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
        elif (
            isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and isinstance(node.value, ast.Name)
            and node.value.id in modules
        ):
            found.append(f"{node.value.id}.{node.attr}")
    return found


def test_no_command_module_imports_another_command() -> None:
    commands = registered_commands()
    assert {"train", "evaluate", "reproduce", "serve"} <= commands
    offenders = {}
    for path in sorted(COMMANDS_DIR.glob("*.py")):
        imported = set(commands_imported(path.read_text(encoding="utf-8")).values()) & commands
        if imported - {path.stem}:
            offenders[path.name] = sorted(imported - {path.stem})
    assert offenders == {}
    # The check sees what it looks for, at the top and inside functions.
    assert commands_imported("from mnistlab.commands.train import default_run_dir") == {
        "from mnistlab.commands.train": "train"
    }
    assert commands_imported("def f():\n    from mnistlab.commands import evaluate_reader as r\n") == {
        "r": "evaluate_reader"
    }
    assert commands_imported("from mnistlab.commands.common import print_json")  # a helper: allowed above


def test_no_test_imports_a_private_name_from_the_commands() -> None:
    offenders = {
        path.name: names
        for path in sorted(TESTS_DIR.glob("*.py"))
        if (names := private_command_names(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}
    assert private_command_names("from mnistlab.commands.train import _resolve") == [
        "mnistlab.commands.train._resolve"
    ]
    assert private_command_names("from mnistlab.commands import bench as b\nb._lines(x)") == ["b._lines"]
    assert private_command_names("from mnistlab.commands import bench as b\nb.format_table(x)") == []
