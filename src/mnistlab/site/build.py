"""`build_site`: a folder any static host serves, reading digits in the browser with no server.

The folder holds the page (index.html, its scripts and style, a web manifest and a service
worker that caches the folder on install), the models (`models/digit.onnx` with
`models/digit.json`; `models/line.onnx` with `models/line.json` when the line reader ships) and
onnxruntime-web's WebAssembly build (`ort/`). Nothing the page loads comes from elsewhere.

It is written into a hidden sibling folder and renamed into place only when complete, so
OUT_DIR is either what it was or the whole new site; an OUT_DIR that exists is replaced.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from mnistlab.errors import SiteError
from mnistlab.site.models import digit_model, line_model
from mnistlab.site.runtime import ORT_VERSION, fetch_runtime, runtime_files

# The page's own files, copied from mnistlab/site/static/ (sw.js is written with its file list).
STATIC = ("index.html", "app.js", "layout.js", "lines.js", "reader.js", "style.css", "icon.svg")
MANIFEST = "manifest.webmanifest"
WORKER = "sw.js"
CONFIG = "site.json"
RUNTIME_DIR = "ort"


@dataclass(frozen=True)
class SiteResult:
    """What `build_site` wrote."""

    out_dir: Path
    files: tuple[str, ...]  # every file, relative to out_dir, "/"-separated
    page_bytes: int  # everything but the runtime (ort/)
    runtime_bytes: int
    runtime_version: str
    number_mode: bool  # whether the line reader is in the page
    run_dir: Path


def build_site(run: str | Path | None, out_dir: str | Path, runtime: str | Path | None = None) -> SiteResult:
    """Write the static page for `run` (None: the reader shipped in the package) into `out_dir`.

    `runtime` is a local onnxruntime-web tarball; without it the pinned one is taken from the
    user cache, downloaded there first when absent. Raises SiteError (runtime, folder),
    CheckpointError (run) or ExportError (model); nothing is left half-written.
    """
    from mnistlab.models.pretrained import reader_run
    from mnistlab.runs.checkpoint import read_dataset_record, require_run_dir

    out = Path(out_dir)
    run_dir = reader_run() if run is None else require_run_dir(run)
    trained_on = read_dataset_record(run_dir)
    if trained_on["image_kind"] != "digits":
        # layout.js is MNIST's digit pre-processing; Fashion-MNIST's conversion has no port.
        raise SiteError(
            f"The page reads digits, but {run_dir} was trained on {trained_on['title']} "
            f"({trained_on['image_kind']}); show it with `mnistlab serve {run_dir}` instead."
        )
    if out.exists() and not out.is_dir():
        raise SiteError(f"OUT_DIR {out} is a file; pass a folder to write the page into.")
    if out.is_dir() and any(out.iterdir()) and not (out / CONFIG).is_file():
        # Only an earlier page is replaced: `mnistlab site runs/x` must not wipe the run `runs/x`.
        raise SiteError(
            f"OUT_DIR {out} holds files that are not a page made by `mnistlab site`; choose a new "
            "or empty folder, or remove it first."
        )
    staging = _staging(out)
    try:
        tarball = Path(runtime) if runtime is not None else fetch_runtime()
        ort = runtime_files(tarball)
        digit_bytes, digit_record = digit_model(run_dir)
        line = line_model()
        files: dict[str, bytes] = {f"{RUNTIME_DIR}/{name}": data for name, data in ort.items()}
        files["models/digit.onnx"] = digit_bytes
        files["models/digit.json"] = _json(digit_record)
        if line is not None:
            files["models/line.onnx"] = line[0]
            files["models/line.json"] = _json(line[1])
        static = resources.files("mnistlab.site") / "static"
        for name in STATIC:
            files[name] = (static / name).read_bytes()
        files[CONFIG] = _json(
            {
                "runtime": {"package": "onnxruntime-web", "version": ORT_VERSION},
                "digit": "models/digit.json",
                "line": "models/line.json" if line is not None else None,
            }
        )
        files[MANIFEST] = _json(_manifest(digit_record["name"]))
        files[WORKER] = _worker(files)
        for name, data in files.items():
            path = staging / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        _swap(staging, out)
    except OSError as e:
        raise SiteError(
            f"Cannot write the page to {out} ({e.strerror or e}); choose a folder you can write to."
        ) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # gone already once renamed
    runtime_bytes = sum(len(v) for k, v in files.items() if k.startswith(f"{RUNTIME_DIR}/"))
    return SiteResult(
        out_dir=out,
        files=tuple(sorted(files)),
        page_bytes=sum(len(v) for v in files.values()) - runtime_bytes,
        runtime_bytes=runtime_bytes,
        runtime_version=ORT_VERSION,
        number_mode=line is not None,
        run_dir=run_dir,
    )


def _staging(out: Path) -> Path:
    """A new hidden folder beside `out` (same file system, so the final rename is atomic)."""
    staging = out.parent / f".{out.name}.site-{secrets.token_hex(4)}"
    try:
        staging.mkdir(parents=True)
    except OSError as e:
        raise SiteError(
            f"Cannot write the page to {out} ({e.strerror}); choose a folder you can write to."
        ) from None
    return staging


def _swap(staging: Path, out: Path) -> None:
    """Rename `staging` to `out`; an existing `out` is moved aside first and removed after."""
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{secrets.token_hex(4)}"
        os.replace(out, old)
    try:
        os.replace(staging, out)
    except OSError:
        if old is not None:
            os.replace(old, out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _json(value: object) -> bytes:
    return (json.dumps(value, indent=1, sort_keys=True) + "\n").encode()


def _manifest(name: str) -> dict:
    return {
        "name": "mnistlab: draw a digit",
        "short_name": "mnistlab",
        "description": f"Reads a handwritten digit in the browser with the {name} reader, offline.",
        "start_url": "./",
        "scope": "./",
        "display": "standalone",
        "background_color": "#f5f7fa",
        "theme_color": "#d9480f",
        "icons": [{"src": "icon.svg", "sizes": "any", "type": "image/svg+xml"}],
    }


def _worker(files: dict[str, bytes]) -> bytes:
    """sw.js: the static template with the folder's file list and a version that changes with
    any file's content (a rebuilt site replaces the old cache)."""
    names = sorted(files)
    digest = hashlib.sha256()
    for name in names:
        digest.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    template = (resources.files("mnistlab.site") / "static" / WORKER).read_text(encoding="utf-8")
    listed = json.dumps(["./", *names], indent=1)
    return (
        template.replace("/*VERSION*/", json.dumps(digest.hexdigest()[:16]))
        .replace("/*FILES*/", listed)
        .encode()
    )
