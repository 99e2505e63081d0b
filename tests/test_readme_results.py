"""The README's headline numbers are the committed reproduction's (docs/results/mnist.json), generated."""

from __future__ import annotations

import json

import pytest

from mnistlab.report.headline import ablation_markdown, headline_markdown, robustness_markdown

from .conftest import REPO

RESULTS = REPO / "docs" / "results" / "mnist.json"


def test_readme_holds_the_tables_generated_from_docs_results() -> None:
    if not RESULTS.is_file():
        pytest.skip("docs/results/mnist.json is not committed yet (it comes from a full `make run`)")
    results = json.loads(RESULTS.read_text(encoding="utf-8"))
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    # Regenerate with: python scripts/readme_results.py docs/results/mnist.json
    assert headline_markdown(results) in readme
    assert ablation_markdown(results) in readme
    assert robustness_markdown(results) in readme
