"""`mnistlab bench`: speed measured side by side with the usual PyTorch way, on this machine.

The names load on first use: `mnistlab train` imports `bench.timing` for its clock, and should
not pay for the benchmark's other modules (FlopCounterMode, the DataLoader).
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "records": ["Target", "flops_to_accuracy", "forward_flops_per_image", "run_flops"],
        "reference": ["MnistSamples", "reference_loader", "reference_loss", "train_reference"],
        "suite": ["TARGETS", "BenchPlan", "run_bench"],
        "throughput": ["compare_training", "engine_intervals", "inference"],
        "timing": ["Stats", "percentile", "seconds_since_process_start"],
    },
)
