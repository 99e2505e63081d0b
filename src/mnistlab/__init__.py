"""mnistlab: from the MNIST digits to a 99%+ classifier, reproducibly and fast on a CPU.

The public API, for notebooks and scripts::

    import mnistlab
    data = mnistlab.load_dataset("mnist")               # verified, split 55k/5k/10k
    config = mnistlab.resolve_config("softmax")         # the paper's recipe
    result = mnistlab.train(config, data)
    print(result.test_accuracy)                         # ~0.92
    mnistlab.evaluate(result.model, data.test).confusion
    mnistlab.export_run("runs/my-run")                  # ONNX + MODEL_CARD.md (extra: export)
"""

__version__ = "0.1.0"

from mnistlab.checkpoint import load_model
from mnistlab.config import TrainConfig, resolve_config
from mnistlab.data import Dataset, Split, load_dataset, normalize, one_hot
from mnistlab.errors import MnistlabError
from mnistlab.evaluation import Evaluation, accuracy, evaluate, predict_logits
from mnistlab.exported import ExportResult
from mnistlab.models import create_model, list_models, register_model
from mnistlab.runtime import describe_runtime, resolve_device
from mnistlab.training import TrainResult, train


def export_run(*args, **kwargs):  # type: ignore[no-untyped-def]
    """`mnistlab.export.export_run`, imported on first use: it pulls in Pillow and the ONNX stack,
    which a training command never needs."""
    from mnistlab.export import export_run as _export_run

    return _export_run(*args, **kwargs)


__all__ = [
    "Dataset",
    "Evaluation",
    "ExportResult",
    "MnistlabError",
    "Split",
    "TrainConfig",
    "TrainResult",
    "accuracy",
    "create_model",
    "describe_runtime",
    "evaluate",
    "export_run",
    "list_models",
    "load_dataset",
    "load_model",
    "normalize",
    "one_hot",
    "predict_logits",
    "register_model",
    "resolve_config",
    "resolve_device",
    "train",
]
