"""`mnistlab export RUN_DIR`: an ONNX file verified in onnxruntime, with MODEL_CARD.md beside it."""

from __future__ import annotations

import argparse

from mnistlab.commands.common import add_checkpoint_arg, add_json_arg, print_json
from mnistlab.export.onnx import DEFAULT_FILE, FORMATS, export_run
from mnistlab.runtime import set_threads


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export",
        help="write a run's model as ONNX, verified on the test split, with a model card",
        description="Export a trained run to ONNX (input `images` float32 (N, 1, 28, 28) in [0, 1], "
        "output `logits`), run the file in onnxruntime on the whole test split, and keep it only "
        "when it matches torch (max |logit difference| < 1e-4, same top class everywhere). "
        "Needs `pip install 'mnistlab[export]'`.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory made by `mnistlab train`")
    p.add_argument("--format", choices=FORMATS, default="onnx", help="file format (default: onnx)")
    p.add_argument(
        "--out",
        metavar="FILE",
        help=f"where to write it (default: RUN_DIR/{DEFAULT_FILE}); MODEL_CARD.md goes in the same folder",
    )
    add_checkpoint_arg(p)
    p.add_argument(
        "--data-dir",
        metavar="DIR",
        help="folder holding the dataset's IDX files, for the verification on the test split; "
        "default: $MNISTLAB_DATA, then the user cache, then a download",
    )
    p.add_argument(
        "--threads", type=int, metavar="N", help="torch and onnxruntime threads (default: torch's)"
    )
    add_json_arg(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    threads = set_threads(args.threads)
    result = export_run(
        args.run_dir,
        out=args.out,
        fmt=args.format,
        checkpoint=args.checkpoint,
        data_dir=args.data_dir,
        threads=threads,
    )
    v = result.verification
    if args.json:
        print_json(
            {
                "path": str(result.path),
                "model_card": str(result.card_path),
                "size_bytes": result.size_bytes,
                "sha256": result.sha256,
                "checkpoint": result.checkpoint,
                "step": result.step,
                "opset": result.opset,
                "test_accuracy": result.test.accuracy,
                "verification": v.to_dict(),
                "export_seconds": result.export_seconds,
                "verify_seconds": result.verify_seconds,
                "metadata": result.metadata,
                "versions": result.versions,
            }
        )
    else:
        print(
            f"{result.path} ({result.size_bytes / 1e6:.2f} MB, {result.config.model}, {result.checkpoint} "
            f"weights): test accuracy {result.test.accuracy:.2%}; onnxruntime matches torch on {v.count:,} "
            f"test images (max |logit difference| {v.max_abs_logit_diff:.1e}, top class agrees "
            f"{v.argmax_agreement:.0%}). Model card: {result.card_path}"
        )
    return 0
