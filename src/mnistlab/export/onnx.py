"""A trained run as an ONNX file, kept only after onnxruntime reproduces it on the test split.

The file takes `images`, float32 (N, 1, 28, 28) in [0, 1] (MNIST's uint8 pixels / 255,
light ink on black) with any batch size N, and returns `logits`, float32 (N, classes). Its
metadata names the data (with content hashes), the classes, the pre-processing that
`mnistlab predict` applies to a person's own image, the recipe and config and the test
accuracy, and the run's temperature and abstention rule (`export.metadata`), so the file can be
used without the run directory; MODEL_CARD.md next to it adds the verification numbers, the
calibration and the environment.

The exporter is `torch.onnx.export(..., dynamo=True)`, torch.export's path and torch's
default since 2.9; it needs onnxscript. The TorchScript path (dynamo=False) still works in
torch 2.13 but warns that it will be removed. Verification runs the exact bytes that will be
kept, written under a temporary name that is renamed only when they pass.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import logging
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mnistlab.data import Split, load_dataset, normalize
from mnistlab.data.splits import SIDE
from mnistlab.errors import CheckpointError, ExportError, UsageError
from mnistlab.evaluation.metrics import evaluation_from_logits
from mnistlab.evaluation.trust import decision_summary
from mnistlab.export.metadata import INPUT_NAME, OUTPUT_NAME, onnx_metadata
from mnistlab.export.model_card import render_model_card
from mnistlab.export.result import ExportResult, Verification
from mnistlab.fileio import atomic_write_text, pending_file
from mnistlab.reader.abstention import AbstentionRule
from mnistlab.reader.calibration import UNCALIBRATED, read_calibration
from mnistlab.reader.prediction import EVAL_BATCH_SIZE, predict_logits
from mnistlab.runs import checkpoint as ckpt
from mnistlab.runs.record import exported_record

FORMATS = ("onnx",)
DEFAULT_FILE = "model.onnx"
# fp32 tolerance: the largest |logit difference| allowed between torch and onnxruntime.
# Measured differences on this project's models are ~1e-6 (different kernels, same maths).
MAX_ABS_LOGIT_DIFF = 1e-4
EXTRA_PACKAGES = ("onnx", "onnxscript", "onnxruntime")
INSTALL_HINT = "pip install 'mnistlab[export]'"


def require_export_packages() -> dict[str, str]:
    """Import the `export` extra's packages; their versions, or ExportError naming the extra."""
    versions, missing = {}, []
    for name in EXTRA_PACKAGES:
        try:
            versions[name] = importlib.import_module(name).__version__
        except ImportError:
            missing.append(name)
    if missing:
        raise ExportError(
            f"Exporting to ONNX needs the optional package(s) {', '.join(missing)}; "
            f"install them with `{INSTALL_HINT}`."
        )
    return versions


def compare_logits(
    reference: torch.Tensor, candidate: torch.Tensor, tolerance: float = MAX_ABS_LOGIT_DIFF
) -> Verification:
    """Max |difference| and argmax agreement of two (N, C) logit tensors."""
    if reference.shape != candidate.shape:
        raise ExportError(
            f"The ONNX model returned logits of shape {tuple(candidate.shape)}, "
            f"torch {tuple(reference.shape)}; the export is broken."
        )
    reference, candidate = reference.to(torch.float32), candidate.to(torch.float32)
    diff = (reference - candidate).abs().max().item() if reference.numel() else 0.0
    agree = (reference.argmax(1) == candidate.argmax(1)).double().mean().item() if len(reference) else 1.0
    return Verification(len(reference), float(diff), float(agree), tolerance)


def run_onnx(path: Path, images: torch.Tensor, *, threads: int | None = None) -> torch.Tensor:
    """Logits (N, C) of an exported file for uint8 images (N, 28, 28), in onnxruntime on CPU."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    chunks = [
        torch.from_numpy(
            session.run([OUTPUT_NAME], {INPUT_NAME: normalize(images[i : i + EVAL_BATCH_SIZE]).numpy()})[0]
        )
        for i in range(0, images.shape[0], EVAL_BATCH_SIZE)
    ]
    return torch.cat(chunks)


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence the exporter's notes that are not about this model (torch 2.13 logs that
    torchvision's ops are skipped and warns about its own deprecated internals)."""
    logger = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        logger.setLevel(level)


def to_onnx(model: nn.Module, metadata: dict[str, str]) -> tuple[bytes, int]:
    """Serialized ONNX of `model` (eval mode, CPU) with a dynamic batch; its bytes and opset."""
    example = torch.zeros(2, 1, SIDE, SIDE)  # batch 2: torch.export specialises sizes 0 and 1
    return serialize(
        model,
        example,
        {0: torch.export.Dim("batch")},
        (INPUT_NAME, OUTPUT_NAME),
        "mnistlab classifier; see the metadata 'preprocessing', 'classes' and 'decision'.",
        metadata,
    )


def serialize(
    model: nn.Module,
    example: torch.Tensor,
    dynamic: dict[int, Any],
    names: tuple[str, str],
    doc: str,
    metadata: dict[str, str],
) -> tuple[bytes, int]:
    """`model` exported by torch.onnx (dynamo) on one input `example` whose `dynamic` dimensions
    may vary, its input and output named `names`, with `doc` and `metadata`: bytes and opset."""
    import onnx

    with _quiet_exporter():
        program = torch.onnx.export(
            model,
            (example,),
            None,
            input_names=[names[0]],
            output_names=[names[1]],
            dynamic_shapes=(dynamic,),
            dynamo=True,
            verbose=False,
        )
    proto = program.model_proto
    proto.doc_string = doc
    onnx.helper.set_model_props(proto, metadata)
    opset = next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
    return proto.SerializeToString(), opset


def resolve_checkpoint(run_dir: Path, which: str) -> tuple[str, int | None]:
    """("best" | "last", training step) for `which`; CheckpointError when those weights do not exist."""
    state_path = run_dir / ckpt.STATE_FILE
    state = ckpt.read_json(state_path, "checkpoint state") if state_path.is_file() else None
    if which == "final":
        results = ckpt.read_results(run_dir)
        if results is None:
            raise CheckpointError(
                f"{run_dir} has no {ckpt.RESULTS_FILE}: its training did not finish; resume it with "
                "`mnistlab train TASK --resume RUN_DIR`, or pass --checkpoint last or best."
            )
        which = results.get("test_checkpoint", "last")
    if which == "best":
        if not (run_dir / ckpt.BEST_FILE).is_file():
            raise CheckpointError(
                f"{run_dir} has no {ckpt.BEST_FILE}: it was never validated; pass --checkpoint last."
            )
        return "best", None if state is None else state.get("best_step")
    if which == "last":
        if state is None:
            raise CheckpointError(
                f"{run_dir} has no {ckpt.STATE_FILE}: it holds no checkpoint yet; train it first."
            )
        return "last", state.get("step")
    raise UsageError(f"--checkpoint must be final, best or last, got {which!r}.")


def export_run(
    run_dir: Path | str,
    *,
    out: Path | str | None = None,
    fmt: str = "onnx",
    checkpoint: str = "final",
    data_dir: Path | str | None = None,
    test: Split | None = None,
    threads: int | None = None,
) -> ExportResult:
    """Export a run's weights, verify them in onnxruntime on `test`, then keep the file.

    `test` defaults to the whole test split of the run's dataset (loaded from `data_dir`,
    $MNISTLAB_DATA, the cache or a download). `out` defaults to RUN_DIR/model.onnx; its
    folder must exist. MODEL_CARD.md is written next to it. Nothing is left behind on error.
    """
    if fmt not in FORMATS:
        raise UsageError(f"Unknown export format {fmt!r}; choose one of: {', '.join(FORMATS)}.")
    run_dir = ckpt.require_run_dir(run_dir)
    out = Path(out) if out is not None else run_dir / DEFAULT_FILE
    if not out.parent.is_dir():
        raise UsageError(f"The folder of --out {out} does not exist; create it first or choose another path.")
    if out.is_dir():
        raise UsageError(f"--out {out} is a folder; pass a file name such as {out / DEFAULT_FILE}.")
    versions = require_export_packages()
    which, step = resolve_checkpoint(run_dir, checkpoint)
    model, config = ckpt.load_model(run_dir, which, "cpu")  # CheckpointError if the weights do not fit
    dataset = exported_record(ckpt.read_dataset_record(run_dir))
    calibration = read_calibration(run_dir)  # None: trained before calibration existed
    rule = AbstentionRule.from_dict((calibration or UNCALIBRATED)["rule"])
    if test is None:
        test = load_dataset(config.dataset, data_dir).test

    t0 = time.perf_counter()
    reference = predict_logits(model, test.images)
    if reference.shape[1] != len(dataset["classes"]):
        raise CheckpointError(
            f"The model of {run_dir} has {reference.shape[1]} outputs but its dataset "
            f"{dataset['name']!r} has {len(dataset['classes'])} classes; the run is inconsistent."
        )
    evaluation = evaluation_from_logits(reference, test.labels)
    decision = decision_summary(reference, test.labels, rule)
    verify_seconds = time.perf_counter() - t0
    metadata = onnx_metadata(run_dir, config, which, step, dataset, evaluation, rule, calibration is not None)

    t0 = time.perf_counter()
    data, opset = to_onnx(model, metadata)
    export_seconds = time.perf_counter() - t0

    with pending_file(out) as tmp:
        tmp.write_bytes(data)
        t0 = time.perf_counter()
        verification = compare_logits(reference, run_onnx(tmp, test.images, threads=threads))
        verify_seconds += time.perf_counter() - t0
        if not verification.passed:
            raise ExportError(
                f"The ONNX model disagrees with torch on the test split (max |logit difference| "
                f"{verification.max_abs_logit_diff:.2e}, limit {verification.tolerance:.0e}; argmax "
                f"agreement {verification.argmax_agreement:.2%}, need 100 %), so no file was written."
            )
        result = ExportResult(
            path=out,
            card_path=out.parent / "MODEL_CARD.md",
            size_bytes=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            run_dir=run_dir,
            config=config,
            checkpoint=which,
            step=step,
            dataset=dataset,
            test=evaluation,
            verification=verification,
            metadata=metadata,
            rule=rule,
            calibration=calibration,
            opset=opset,
            export_seconds=export_seconds,
            verify_seconds=verify_seconds,
            versions={"torch": torch.__version__, **versions},
            test_decision=decision,
        )
        atomic_write_text(result.card_path, render_model_card(result))
    return result
