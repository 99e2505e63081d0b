"""The training package's seams hold: one module knows torch.distributed, the loop knows no ranks.

`mnistlab.training.strategy` is where one process and torchrun's many differ; everything
else, the training loop above all, calls its `Strategy` and never asks which it has. Read
from the source with `ast`, like the import-cycle test: nothing is imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[1] / "src" / "mnistlab"
STRATEGY = PACKAGE_ROOT / "training" / "strategy.py"
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


def test_only_the_strategy_module_knows_torch_distributed() -> None:
    offenders = {
        str(path.relative_to(PACKAGE_ROOT)): uses
        for path in sorted(PACKAGE_ROOT.rglob("*.py"))
        if path != STRATEGY and (uses := distributed_uses(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}
    # The check sees what it looks for: the strategy module itself is found.
    assert "torch.distributed" in distributed_uses(STRATEGY.read_text(encoding="utf-8"))
    assert distributed_uses("from torch.nn.parallel import DistributedDataParallel") != []
    assert distributed_uses("import torch\ntorch.distributed.barrier()") != []
    assert distributed_uses("from torch import nn\nnn.parallel.DataParallel") != []
    assert distributed_uses("args.parallel, torch.nn.Linear") == []


def test_the_training_loop_does_not_mention_ranks() -> None:
    text = LOOP.read_text(encoding="utf-8")
    assert "rank" not in text.lower()
    assert "is_main" not in text and "writes is not None" not in text
