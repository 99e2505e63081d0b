"""The reproduction's report: rendered from the finished runs' own files, refreshed after each run.

The modules, each importing only those listed before it:

- `stats`: Student-t intervals over seeds, Welch differences, the paper's number against them.
- `environment`: each run's machine, threads and load; machines labelled M1, M2, ...
- `tables`: the report's tables as text cells.
- `html`: index.html and results.md, rendered from results.json alone.
- `headline`: the README's tables, generated from a results.json.
- `figures`: the report's figures, each redrawn only when its source run changes.
- `rows`: each row of results.json from its runs' files: statistics, machines, ablation differences,
  never-firing ReLU units.
- `robust_rows`: the robustness section's rows.
- `results`: results.json assembled from the rows, and the writer of the report.

What is run, and in which order, is `mnistlab.reproduce`.
"""
