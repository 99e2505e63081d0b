"""The README's results are the committed reproductions' (docs/results/*.json), generated."""

from __future__ import annotations

import json

import pytest

from mnistlab.report.headline import ablation_markdown, headline_markdown, robustness_markdown

from .conftest import REPO

RESULTS = REPO / "docs" / "results"


@pytest.mark.parametrize("dataset", ["mnist", "fashion-mnist"])
def test_readme_holds_the_tables_generated_from_docs_results(dataset: str) -> None:
    path = RESULTS / f"{dataset}.json"
    if not path.is_file():
        pytest.skip(f"docs/results/{dataset}.json is not committed yet (it comes from `mnistlab reproduce`)")
    results = json.loads(path.read_text(encoding="utf-8"))
    assert results["dataset"]["name"] == dataset
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    # Regenerate with: python scripts/readme_results.py docs/results/DATASET.json
    assert headline_markdown(results) in readme
    assert ablation_markdown(results) in readme
    assert robustness_markdown(results) in readme
