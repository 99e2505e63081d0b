"""`mnistlab reproduce`: the paper's experiments over seeds, and a report that fills in as runs finish.

The modules, each importing only those listed before it:

- `experiments`: what is run (the paper's rows, the beyond-the-paper recipes, the seeds).
- `plan`: the (experiment, seed) runs, their folders, and which have finished.
- `figures`: the report's figures, each redrawn only when its source run changes.
- `html`: index.html and results.md, rendered from results.json alone.
- `results`: results.json assembled from the runs' own files, and the writer of the report.
- `parallel`: independent runs in worker processes (`--jobs N`).
- `runner`: training, reusing or resuming every run in order, the time left, the report after each.
"""
