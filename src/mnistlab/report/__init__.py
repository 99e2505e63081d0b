"""`mnistlab reproduce`: the paper's experiments over seeds, and a report that fills in as runs finish.

The modules, each importing only those listed before it:

- `experiments`: what is run (the paper's rows, the beyond-the-paper recipes, the ablations, the seeds).
- `stats`: Student-t intervals over seeds, Welch differences, the paper's number against them.
- `environment`: each run's machine, threads and load; machines labelled M1, M2, ...
- `claims`: `--shard K/N` slices of the plan, and the atomic claim of a run's folder.
- `plan`: the (experiment, seed) runs, their folders, and which have finished.
- `tables`: the report's tables as text cells.
- `html`: index.html and results.md, rendered from results.json alone.
- `headline`: the README's tables, generated from a results.json.
- `figures`: the report's figures, each redrawn only when its source run changes.
- `rows`: each row of results.json from its runs' files: statistics, machines, ablation differences,
  never-firing ReLU units.
- `results`: results.json assembled from the rows, and the writer of the report.
- `parallel`: independent runs in worker processes (`--jobs N`).
- `runner`: training, reusing or resuming every run of this shard in order, the time left, the report after each.
"""
