"""Train the line reader, calibrate it on validation lines, and measure it against today's
segmentation reader on test lines.

    python scripts/line_reader.py train OUT_DIR [--steps N] [--threads 2]   # the shipped reader:
        python scripts/line_reader.py train src/mnistlab/models/pretrained/line_reader --threads 2
    python scripts/line_reader.py measure [LINE_DIR] [--threads 2] [--out docs/line_reader.json]
    python scripts/line_reader.py figure [LINE_DIR]   # docs/line_columns.png
    python scripts/line_reader.py ship [LINE_DIR]     # the ONNX file, README.md and the hashes

MNIST comes from $MNISTLAB_DATA. `train` writes the folder (weights, config.json with the
record of how it was made, calibration.json); `measure` prints the table of both readers on
every validation and test set (`mnistlab.lines.compare`) and the latency of a 6-digit line,
writes them as JSON (--out), and writes the validation sets into the folder's validation.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch


def machine() -> str:
    """The CPU model and the vector flags that matter for torch's kernels."""
    model, flags = platform.processor() or "unknown", []
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                have = set(line.split(":", 1)[1].split())
                flags = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_tile") if f in have]
                break
    except OSError:
        pass
    return f"{model} ({', '.join(flags)}), {os.cpu_count()} cores"


def train(args: argparse.Namespace) -> None:
    from mnistlab.data import load_dataset
    from mnistlab.lines.store import save_line_reader
    from mnistlab.lines.train import LineConfig, calibrate, line_data, train_lines

    torch.set_num_threads(args.threads)
    data = line_data(load_dataset("mnist", os.environ.get("MNISTLAB_DATA")))
    config = LineConfig() if args.steps is None else LineConfig(steps=args.steps)
    start, load = time.time(), os.getloadavg()[0]

    def progress(step: int, loss: float) -> None:
        if step % 100 == 0 or step == config.steps - 1:
            print(f"step {step:5d}  ctc {loss:.4f}  {time.time() - start:6.1f} s", flush=True)

    result = train_lines(config, data, on_step=progress)
    calibration = calibrate(result.model, data, config.val_lines)
    record = {
        "command": "python scripts/line_reader.py train " + " ".join(sys.argv[2:]),
        "machine": machine(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": args.threads,
        "load_average_at_start": round(load, 2),
        "training_seconds": round(result.seconds, 1),
        "wall_seconds": round(time.time() - start, 1),
        "final_losses": [round(v, 4) for v in result.losses[-5:]],
        "loss_every_100": [round(v, 4) for v in result.losses[::100]],
    }
    save_line_reader(Path(args.out), result.model, config, calibration, record)
    print(json.dumps({"calibration": calibration, "record": record}, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    t = sub.add_parser("train")
    t.add_argument("out")
    t.add_argument("--steps", type=int)
    t.add_argument("--threads", type=int, default=2)
    m = sub.add_parser("measure")
    m.add_argument("folder", nargs="?")
    m.add_argument("--threads", type=int, default=2)
    m.add_argument("--out", default="docs/line_reader.json")
    f = sub.add_parser("figure")
    f.add_argument("folder", nargs="?")
    h = sub.add_parser("ship")
    h.add_argument("folder", nargs="?")
    args = parser.parse_args()
    if args.what == "train":
        train(args)
    elif args.what == "measure":
        measure(args)
    elif args.what == "ship":
        ship(args)
    else:
        figure(args)


def measure(args: argparse.Namespace) -> None:
    import numpy as np

    from mnistlab.data import load_dataset
    from mnistlab.lines.compare import compare, comparison_sets, line_answer, segment_answer, table
    from mnistlab.lines.make import LineStyle, line_image, make_lines
    from mnistlab.lines.reader import LineReader
    from mnistlab.models.pretrained import reader_run
    from mnistlab.reader.reader import Reader

    torch.set_num_threads(args.threads)
    data = load_dataset("mnist", os.environ.get("MNISTLAB_DATA"))
    line = LineReader.from_dir(args.folder)
    digit = Reader.from_run(reader_run())
    readers = {"line reader": line_answer(line), "segmentation reader": segment_answer(digit)}
    out: dict = {"threads": args.threads, "machine": machine(), "torch": torch.__version__}
    for split in ("val", "test"):
        start = time.time()
        out[split] = compare(readers, comparison_sets(getattr(data, split), split))
        print(f"{split}: {time.time() - start:.0f} s", flush=True)
        print(table(out[split]), flush=True)
    # Latency: 6-digit lines of test digits read whole (pre-processing included), one at a time.
    lines = make_lines(
        data.test.images, data.test.labels, 60, 4_000_000, LineStyle(min_symbols=6, max_symbols=6)
    )
    inks = [line_image(lines, i).numpy() for i in range(60)]
    out["load_average_before_latency"] = round(os.getloadavg()[0], 2)
    timings = {}
    for name, read in (("line reader", line.read), ("segmentation reader", readers["segmentation reader"])):
        seconds = []
        for k, ink in enumerate(inks * 2):
            t0 = time.perf_counter()
            read(ink) if name == "line reader" else read(_item(ink, lines.truth(k % 60)))
            seconds.append(time.perf_counter() - t0)
        seconds = seconds[10:]  # warm-up
        timings[name] = {
            "p50_ms": 1000 * float(np.median(seconds)),
            "p95_ms": 1000 * float(np.quantile(seconds, 0.95)),
        }
    out["latency_6_digits"] = timings
    print(json.dumps(timings, indent=2), "load", out["load_average_before_latency"])
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    # What `predict` and the server decide on (lines.number.prefer_lines): validation only.
    folder = Path(args.folder) if args.folder else SHIPPED
    validation = {"split": "val", "sets": out["val"], "made_by": "python scripts/line_reader.py measure"}
    (folder / "validation.json").write_text(
        json.dumps(validation, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )


SHIPPED = Path(__file__).resolve().parents[1] / "src" / "mnistlab" / "models" / "pretrained" / "line_reader"


def ship(args: argparse.Namespace) -> None:
    """The shipped folder's ONNX file and README.md (with every file's SHA-256); prints the
    LINE_SHA256 table for `mnistlab.models.pretrained`."""
    import hashlib

    from mnistlab.lines.export import export_line_reader

    torch.set_num_threads(1)
    folder = Path(args.folder) if args.folder else SHIPPED
    export_line_reader(folder, folder / "line_reader.onnx")
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    calibration = json.loads((folder / "calibration.json").read_text(encoding="utf-8"))
    record, val = config["record"], calibration["validation"]
    files = sorted(p for p in folder.iterdir() if p.name != "README.md")
    digests = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
    rows = "\n".join(f"| `{n}` | `{d}` | {(folder / n).stat().st_size:,} |" for n, d in digests.items())
    text = README.format(
        command=record["command"],
        machine=record["machine"],
        torch=record["torch"],
        python=record["python"],
        threads=record["threads"],
        load=record["load_average_at_start"],
        steps=config["config"]["steps"],
        seconds=record["training_seconds"],
        wall=record["wall_seconds"],
        temperature=calibration["temperature"],
        threshold=calibration["rule"]["threshold"],
        line_exact=val["line_exact"],
        single_right=val["single_right"],
        line_refused=val["line_refused"],
        single_refused=val["single_refused"],
        rows=rows,
        size=sum(p.stat().st_size for p in files) / 1e6,
    )
    (folder / "README.md").write_text(text, encoding="utf-8")
    print("LINE_SHA256 = {")
    for n, d in digests.items():
        print(f'    "{n}": "{d}",')
    print("}")


README = """# The shipped line reader

The line reader of `mnistlab.lines` (a CNN over a line of digits, height 32, any width, read
with CTC), so that `mnistlab predict` and `mnistlab serve` read numbers whole. Read it with
`mnistlab.lines.LineReader.from_dir()` (which checks every file against the hashes below).

Made by

```sh
{command}
```

on {machine}, torch {torch}, Python {python}, {threads} thread(s), other people's jobs running
beside it (load average {load} at the start): {steps:,} steps of 64 lines in {seconds} s of
training, {wall} s with the calibration.

- `model.safetensors`: the weights; `config.json`: the recipe (`LineConfig`) and the record of
  how it was made; `calibration.json`: temperature {temperature} (fitted on validation lines)
  and the rule: a line abstains when its least sure digit's confidence < {threshold:.4f} (the
  1 % quantile on clean validation lines and single digits, the lower). On validation: lines
  read exactly {line_exact:.2%}, single digits right {single_right:.2%}; refused {line_refused:.2%}
  of lines and {single_refused:.2%} of single digits.
- `validation.json`: both readers on validation sets (`scripts/line_reader.py measure`); it
  decides whether `predict` reads numbers with this reader (`mnistlab.lines.number`).
- `line_reader.onnx`: the same network as ONNX (input `line` [1, 1, 32, W], output `log_probs`
  [1, W // 4, 12]; metadata `mnistlab_line`: pre-processing, temperature and rule).

{size:.2f} MB in all.

| file | SHA-256 | bytes |
| --- | --- | --- |
{rows}
"""


def _item(ink, truth):
    from mnistlab.lines.compare import Item

    return Item(ink.astype("uint8"), truth)


def figure(args: argparse.Namespace) -> None:
    """The per-column posteriors of the line reader on touching pairs of test digits."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from mnistlab.data import load_dataset
    from mnistlab.lines.decode import SYMBOLS
    from mnistlab.lines.make import LineStyle, line_image, make_lines
    from mnistlab.lines.preprocess import preprocess_line
    from mnistlab.lines.reader import LineReader

    torch.set_num_threads(1)
    data = load_dataset("mnist", os.environ.get("MNISTLAB_DATA"))
    reader = LineReader.from_dir(args.folder)
    style = LineStyle(min_symbols=2, max_symbols=2, gap=(-0.3, -0.15))
    lines = make_lines(data.test.images, data.test.labels, 3, 5_000_000, style)
    fig = Figure(figsize=(9, 10))
    FigureCanvasAgg(fig)
    names = ["blank", *SYMBOLS[:-1], "not a digit"]
    for i in range(3):
        line = preprocess_line(line_image(lines, i).numpy())
        lp = reader.log_probs(line)
        p = np.exp(lp / reader.temperature)
        p /= p.sum(1, keepdims=True)
        reading = reader.read_line(line)
        top, bottom = fig.add_subplot(6, 1, 2 * i + 1), fig.add_subplot(6, 1, 2 * i + 2)
        top.imshow(line, cmap="gray", aspect="auto", extent=(0, line.shape[1], 32, 0))
        top.set_title(
            f"truth {lines.truth(i)}, read {reading.digits or 'refused'} "
            f"(confidences {', '.join(f'{c:.3f}' for c in reading.confidences)})",
            fontsize=9,
        )
        top.set_xticks([])
        top.set_yticks([])
        image = bottom.imshow(
            p.T, cmap="magma", aspect="auto", vmin=0, vmax=1, extent=(0, line.shape[1], 11.5, -0.5)
        )
        bottom.set_yticks(range(12), names, fontsize=6)
        bottom.set_xlabel("input column (each output column covers 4)", fontsize=7)
    fig.subplots_adjust(hspace=0.55, top=0.95, bottom=0.06)
    fig.colorbar(image, ax=fig.axes, shrink=0.6, label="calibrated posterior")
    out = Path("docs/line_columns.png")
    fig.savefig(out, dpi=90)
    print(out)


if __name__ == "__main__":
    main()
