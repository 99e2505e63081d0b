"""docs/tutorial.ipynb runs from top to bottom against the real MNIST, and ships with its outputs.

`python tests/test_tutorial.py` re-executes it in place (outputs included), for after an edit.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "docs" / "tutorial.ipynb"
KERNEL = "mnistlab-tutorial"


def execute_notebook(path: Path, workdir: Path, env: dict[str, str]) -> object:
    """Run every cell of `path` in a fresh kernel of this Python, with `env`; the executed notebook.

    The kernel is declared in a private kernelspec folder, so that a `python3` kernel installed
    elsewhere on the machine cannot run the notebook with another interpreter.
    """
    import nbclient
    import nbformat

    spec = workdir / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": KERNEL, "language": "python"})
    )
    saved = {k: os.environ.get(k) for k in (*env, "JUPYTER_PATH", "IPYTHONDIR")}
    os.environ.update(
        {**env, "JUPYTER_PATH": str(workdir / "jupyter"), "IPYTHONDIR": str(workdir / "ipython")}
    )
    try:
        notebook = nbformat.read(path, as_version=4)
        # The timeout only guards against a hung kernel: on a busy shared machine one training
        # cell has taken over 10 minutes, so it is far above the notebook's ~1 minute.
        client = nbclient.NotebookClient(
            notebook, timeout=3600, kernel_name=KERNEL, resources={"metadata": {"path": str(workdir)}}
        )
        client.execute()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    notebook.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    return notebook


def test_committed_notebook_has_its_outputs() -> None:
    notebook = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    assert code and all(c["outputs"] and c["execution_count"] for c in code)
    assert not [o for c in code for o in c["outputs"] if o["output_type"] == "error"]
    # Run in order from a fresh kernel, so it reads as it runs.
    assert [c["execution_count"] for c in code] == list(range(1, len(code) + 1))


@pytest.mark.slow
def test_tutorial_runs_top_to_bottom(data_dir: Path, tmp_path: Path) -> None:
    """Every cell runs without an error (about a minute on a quiet 2-core CPU, far longer on a busy one)."""
    for name in ("nbclient", "nbformat", "ipykernel"):
        pytest.importorskip(name, reason="the 'dev' extra is not installed: pip install 'mnistlab[dev]'")
    for name in ("onnx", "onnxscript", "onnxruntime"):
        pytest.importorskip(
            name, reason="the 'export' extra is not installed: pip install 'mnistlab[export]'"
        )
    src = str(REPO / "src")  # the kernel imports this checkout's mnistlab, as pytest does
    pythonpath = os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p)
    notebook = execute_notebook(
        NOTEBOOK, tmp_path, {"MNISTLAB_DATA": str(data_dir), "PYTHONPATH": pythonpath}
    )
    text = "".join(
        o.get("text", "")
        for c in notebook.cells
        if c.cell_type == "code"
        for o in c.outputs  # type: ignore[attr-defined]
    )
    assert "softmax regression: validation" in text and "ONNX says" in text


if __name__ == "__main__":
    import tempfile

    import nbformat

    with tempfile.TemporaryDirectory() as tmp:
        executed = execute_notebook(NOTEBOOK, Path(tmp), {})
    nbformat.write(executed, NOTEBOOK)
    print(f"executed {NOTEBOOK}")
