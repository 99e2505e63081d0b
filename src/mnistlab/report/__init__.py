"""The reproduction's report: rendered from the finished runs' own files, refreshed after each run.

The modules, each importing only those listed before it:

- `stats`: Student-t intervals over seeds, Welch differences, the paper's number against them.
- `environment`: each run's machine, threads and load; machines labelled M1, M2, ...
- `cells`: one table cell as text: percentages, mean ± std, intervals, each seed's state.
- `sentences`: the lines around the tables: status, --quick reductions, the paper's verdicts, machines.
- `tables`: the report's tables (results, runs, ablations, never-firing units, robustness) as text cells.
- `reader_tables`: the reader section's tables (calibration and abstention, outlier sets) as text cells.
- `html`: index.html and results.md, rendered from results.json alone.
- `headline`: the README's tables, generated from a results.json.
- `rows`: each row of results.json from its runs' files: statistics, machines, ablation differences,
  never-firing ReLU units.
- `robust_rows`: the robustness section's rows.
- `reader_rows`: the reader section's rows: each run's calibration and abstention on the test split
  and, in a full report, on the outlier sets of `evaluate --ood`.
- `run_figures`: what a figure is, and the figures drawn from the runs' weights and metrics.
- `robust_figures`: the robustness section's figures.
- `figures`: every figure in page order, each redrawn only when its source run changes.
- `results`: results.json assembled from the rows, and the writer of the report.
- `reproduction`: `reproduce()`, the runs of the plan with the report rewritten after each.

What is run, and in which order, is `mnistlab.reproduce`: this package imports it, never the
reverse (`reproduction` hands the writer to the runner as a callback).
"""
