"""`mnistlab reproduce`: what is run, over which seeds, by which process, in which order.

The modules, each importing only those listed before it:

- `experiments`: what is run (the paper's rows, the beyond-the-paper recipes, the ablations, the seeds).
- `claims`: `--shard K/N` slices of the plan, and the atomic claim of a run's folder.
- `plan`: the (experiment, seed) runs, their folders, and which have finished.
- `claimed`: one run start to end: claiming its folder, training it, releasing the claim.
- `parallel`: runs in worker processes (`--jobs N`), each worker running `claimed`.
- `runner`: every run of this shard, in this process or in workers; the time left; a callback
  whenever a run starts or ends.

Nothing here renders: the report made from the finished runs is `mnistlab.report`, which
imports this package and never the reverse; `mnistlab.report.reproduction.reproduce` joins the two.
"""

import lazy_loader

# Each name loads its module on first use (SPEC 1), so importing the package loads nothing.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "experiments": ["Experiment", "available_experiments"],
        "plan": ["Job", "finished_results"],
        "runner": ["Progress", "run_plan"],
    },
)
