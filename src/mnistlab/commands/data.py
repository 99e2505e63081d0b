"""`mnistlab data info|download`: where the data is, whether it verified, what it holds."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from mnistlab.commands.common import add_data_args, add_json_arg, download_bar, load_data, print_json
from mnistlab.data import SPLITS, get_dataset_spec
from mnistlab.data.download import download_dataset
from mnistlab.data.store import default_cache_dir


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("data", help="inspect or download a dataset")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    info = actions.add_parser("info", help="where the data was found, verification, counts, label histogram")
    add_data_args(info)
    add_json_arg(info)
    info.set_defaults(handler=run_info)

    download = actions.add_parser("download", help="download and verify a dataset into the cache")
    download.add_argument("--dataset", default="mnist", help="registered dataset name (default: mnist)")
    download.add_argument("--dir", metavar="DIR", help="download here instead of the user cache")
    download.add_argument("--timeout", type=float, default=30.0, help="seconds per connection/read")
    download.set_defaults(handler=run_download)


def run_info(args: argparse.Namespace) -> int:
    data = load_data(args)
    located = data.source
    splits = {}
    for name in SPLITS:
        split = data.split(name)
        histogram = torch.bincount(split.labels, minlength=len(data.classes)).tolist()
        splits[name] = {"count": len(split), "labels": dict(zip(data.classes, histogram, strict=True))}
    info = {
        "dataset": data.name,
        "title": located.spec.display_name if located else data.name,
        "classes": list(data.classes),
        "split_rule": data.split_rule(),
        "source": located.source if located else None,
        "root": str(located.root) if located else None,
        "files": {role: str(path) for role, path in located.paths.items()} if located else {},
        "verified": "sha256 of the decompressed content matches the registry",
        "image_shape": list(data.train.images.shape[1:]),
        "splits": splits,
    }
    if args.json:
        print_json(info)
        return 0
    print(
        f"{info['title']} ({data.name}): found via {info['source']} in {info['root']} "
        f"(verified: {info['verified']})"
    )
    for role, path in info["files"].items():
        print(f"  {role:<13} {path}")
    print(f"  images are {'x'.join(map(str, info['image_shape']))} uint8, {data.num_classes} classes")
    print(f"  split: {info['split_rule']}")
    print()
    width = max(7, *(len(c) + 1 for c in data.classes))
    print(f"  {'class':<{width}}" + "".join(f"{name:>8}" for name in splits))
    for c, name in enumerate(data.classes):
        counts = "".join(f"{list(split['labels'].values())[c]:>8}" for split in splits.values())
        print(f"  {name:<{width}}{counts}")
    print(f"  {'total':<{width}}" + "".join(f"{split['count']:>8}" for split in splits.values()))
    return 0


def run_download(args: argparse.Namespace) -> int:
    spec = get_dataset_spec(args.dataset)
    dest = Path(args.dir) if args.dir else default_cache_dir(spec.name)
    paths = download_dataset(spec, dest, timeout=args.timeout, progress=download_bar("download"))
    print(f"{spec.name}: {len(paths)} files downloaded and verified in {dest}")
    return 0
