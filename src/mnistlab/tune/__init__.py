"""Hyper-parameter search on Optuna (`mnistlab tune`; the `tune` extra).

- `space`: SPACE.toml read and checked, and each trial's TrainConfig from it (no Optuna).
- `storage`: Optuna's storages (SQLite in the study folder, any RDB URL, a journal file),
  opened with one-sentence errors; this host's dead trials failed.
- `objective`: one trial, an ordinary run folder trained without the test split, pruned on
  the validation accuracy the loop reports.
- `study`: a study created or continued (same space, same data), and its trials.
- `configfile`: a TrainConfig as TOML that `mnistlab train --config` reads back.
- `report`: the best trials, the importances, the figures and the best config.
"""

import lazy_loader

# Each name loads its module on first use (SPEC 1), so importing the package loads nothing.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "space": ["Param", "Space", "parse_space", "read_space"],
        "storage": ["open_storage", "storage_url"],
        "objective": ["TrialContext", "run_trial"],
        "study": ["open_study", "run_study"],
        "report": ["write_report"],
    },
)
