"""Run directories: what a run folder holds, and how it is written and read.

- `checkpoint`: the file layout, the "last" checkpoint, and reading config, results and dataset.json.
- `tensors`: the safetensors files: weights, and optimizer state without pickle.
- `schema`: the schema every JSON file of a run folder is checked against when read.
- `files`: which paths of a run folder may be read (regular files inside it, bounded).
- `writer`: everything a training run writes into its folder, on the process that owns it.
- `record`: what a run says about how it was made, for exports: its data and the command that trains it.
- `dataset`: the data a finished run is read with.
"""

import lazy_loader

# Each name loads its module on first use (SPEC 1), so importing the package loads nothing.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "checkpoint": [
            "load_model",
            "read_dataset_record",
            "read_results",
            "read_run_config",
            "require_run_dir",
        ],
        "writer": ["RunWriter", "Writer", "run_writer"],
        "record": ["TrainCommand", "exported_record", "train_command"],
        "dataset": ["RunData", "common_dataset_record", "load_run_data"],
    },
)
