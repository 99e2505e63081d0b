"""mnistlab: from the MNIST digits to a 99%+ classifier, reproducibly and fast on a CPU.

The public API, for notebooks and scripts::

    import mnistlab
    data = mnistlab.load_dataset("mnist")               # verified, split 55k/5k/10k
    config = mnistlab.resolve_config("softmax")         # the paper's recipe
    result = mnistlab.train(config, data)
    print(result.test_accuracy)                         # ~0.92
    mnistlab.evaluate(result.model, data.test).confusion
    mnistlab.export_run("runs/my-run")                  # ONNX + MODEL_CARD.md (extra: export)

Every name loads its module on first use, so `import mnistlab` costs nothing and a command
pays only for what it uses (`export_run` alone pulls in Pillow and the ONNX stack).
"""

import lazy_loader

__version__ = "0.1.0"

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "config": ["TrainConfig", "resolve_config"],
        "data": ["Dataset", "Split", "load_dataset", "normalize", "one_hot"],
        "errors": ["MnistlabError"],
        "evaluation": ["Evaluation", "accuracy", "evaluate"],
        "export": ["ExportResult", "export_run"],
        "models": ["create_model", "list_models", "register_model"],
        "reader": ["Reader", "predict_logits"],
        "runtime": ["describe_runtime", "resolve_device"],
        "runs": ["load_model"],
        "training": ["TrainResult", "train"],
    },
)
