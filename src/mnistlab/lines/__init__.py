"""Lines of handwritten digits, joined or apart, read whole by a CTC line reader.

- `preprocess`: a line's ink to the reader's input (height 32, any width), numpy steps.
- `make`: seeded lines of MNIST digits and pen-stroke negatives, batched in torch.
- `model`: the network (`line_cnn`): per-column log-probabilities over blank, 10 digits, "not a digit".
- `decode`: greedy CTC decoding, per-digit confidence and the abstention rule.
- `train`: `LineConfig` (the recipe), `train_lines`, `calibrate` on validation lines.
- `store`: a line reader's folder (safetensors weights, config.json, calibration.json).
- `reader`: `LineReader.read(image or ink) -> LineReading`.
- `export`: the ONNX file (dynamic width) with its rule in the metadata.
- `compare`: the line reader and the segmentation reader on the same images.
- `number`: a line reading as `inference.number`'s NumberReading; what `predict` and `serve` read.
"""

import lazy_loader

# Each name loads its module on first use, so importing the package loads nothing.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "preprocess": ["preprocess_line", "line_batch"],
        "make": ["LineStyle", "Lines", "make_lines"],
        "model": ["LineCNN"],
        "decode": ["greedy", "decision"],
        "train": ["LineConfig", "train_lines", "calibrate", "line_data"],
        "store": ["save_line_reader", "load_line_reader"],
        "reader": ["LineReader", "LineReading"],
        "export": ["line_onnx", "export_line_reader"],
        "compare": ["comparison_sets", "compare"],
        "number": ["read_any_number", "read_number_whole"],
    },
)
