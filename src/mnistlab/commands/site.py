"""`mnistlab site [RUN] OUT_DIR`: a static drawing page that reads digits in the browser, no server."""

from __future__ import annotations

import argparse

from mnistlab.site.runtime import ORT_PACKAGE, ORT_VERSION


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "site",
        help="write a static drawing page that reads digits in the browser, offline",
        description="Write a folder that any static host serves (or a phone keeps offline): the "
        "drawing page, the run's model as ONNX with its calibration and 'not a digit' rule, and "
        f"{ORT_PACKAGE} {ORT_VERSION} (WebAssembly), which reads the drawing in the page with the same "
        "pre-processing and answers as `mnistlab predict`. The runtime comes from the npm registry "
        "once, checked against its published SHA-512, and is kept in the user cache. Needs "
        "`pip install 'mnistlab[export]'`.",
    )
    p.add_argument(
        "run",
        nargs="?",
        metavar="RUN",
        help="a run directory made by `mnistlab train` (default: the reader shipped with mnistlab)",
    )
    p.add_argument(
        "out_dir",
        metavar="OUT_DIR",
        help="the folder to write; an earlier page there is replaced, any other non-empty folder refused",
    )
    p.add_argument(
        "--runtime",
        metavar="TARBALL",
        help=f"a local {ORT_PACKAGE}-{ORT_VERSION}.tgz (`npm pack {ORT_PACKAGE}@{ORT_VERSION}`) instead of "
        "the cached download",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from mnistlab.site.build import build_site

    result = build_site(args.run, args.out_dir, runtime=args.runtime)
    mode = "digits and numbers" if result.number_mode else "digits (no line reader in this install)"
    print(
        f"{result.out_dir}: a static page reading {mode} with {result.run_dir.name}; "
        f"{len(result.files)} files, {result.page_bytes / 1e6:.2f} MB plus {ORT_PACKAGE} "
        f"{result.runtime_version} ({result.runtime_bytes / 1e6:.1f} MB). Serve the folder with any static "
        f"host, e.g. `python -m http.server -d {result.out_dir}`."
    )
    return 0
