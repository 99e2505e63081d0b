"""Training: the paper's loop, its optimizers and schedules, augmentation, and the data-parallel seam.

- `loop`: `train`, one engine for every model, resumable and observable; it never prints.
- `result`: what it reports: `StepReport` while it runs, `TrainResult` and its JSON at the end.
- `optim`: SGD and Adam on torch's fused kernels, and the learning-rate schedules.
- `augment`: random affine, elastic, thickness, contrast, erasing, noise, flips and shifts, batched.
- `strategy`: how a process takes part, written once on a few collectives (`Strategy`);
  `SingleProcess`, where each collective is the identity.
- `ddp`: `TorchrunDDP`, torchrun's real collectives (the only module that knows torch.distributed).
"""

import lazy_loader

# Each name loads its module on first use (SPEC 1), so importing the package loads nothing.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "loop": ["train"],
        "result": ["StepReport", "TrainResult", "summarize"],
        "optim": ["SGD", "Adam", "build_optimizer", "learning_rate"],
        "augment": ["augment_batch"],
        "strategy": ["SingleProcess", "Strategy"],
        "ddp": ["TorchrunDDP", "from_environment"],
    },
)
