"""Print the README's results tables from a reproduction's results.json.

    python scripts/readme_results.py docs/results/mnist.json
    python scripts/readme_results.py docs/results/fashion-mnist.json

Paste the output into README.md as it is: tests/test_readme_results.py checks that the README
holds exactly this text for each file of docs/results/.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from mnistlab.report.headline import ablation_markdown, headline_markdown, robustness_markdown


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python scripts/readme_results.py RESULTS_JSON", file=sys.stderr)
        return 2
    results = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    print(headline_markdown(results), end="")
    for table in (ablation_markdown(results), robustness_markdown(results)):
        if table:
            print()
            print(table, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
