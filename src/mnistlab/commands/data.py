"""`mnistlab data info|download|list|add|remove`: the datasets, where they are, what they hold."""

from __future__ import annotations

import argparse
from pathlib import Path

from mnistlab.commands.common import add_data_args, add_json_arg, download_bar, load_data, print_json
from mnistlab.data.describe import all_datasets, dataset_info, read_classes_file
from mnistlab.data.download import download_dataset
from mnistlab.data.registry import get_dataset_spec
from mnistlab.data.spec import IMAGE_KINDS
from mnistlab.data.store import default_cache_dir
from mnistlab.data.userdata import add_dataset, parse_classes, remove_dataset
from mnistlab.errors import DataError


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

    listing = actions.add_parser("list", help="the built-in datasets and those you added")
    add_json_arg(listing)
    listing.set_defaults(handler=run_list)

    add = actions.add_parser(
        "add",
        help="register your own dataset: a folder of the four IDX files (plain or .gz)",
        description="Validate a folder holding train-images-idx3-ubyte, train-labels-idx1-ubyte, "
        "t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (plain or .gz; 28x28 uint8 images, one "
        "label per image) and record each file's content SHA-256 in the user config folder, so that "
        "`--dataset NAME` works in every command. The files are not copied or changed.",
    )
    add.add_argument("name", metavar="NAME", help="the name to use with --dataset")
    add.add_argument("dir", metavar="DIR", help="the folder holding the four IDX files")
    names = add.add_mutually_exclusive_group()
    names.add_argument("--classes", metavar='"A,B,C"', help="class names in label order, comma-separated")
    names.add_argument("--classes-file", metavar="FILE", help="class names in label order, one per line")
    add.add_argument(
        "--val-size",
        type=int,
        metavar="N",
        help="validation images, taken from the start of the training set (default: 5,000 or a "
        "tenth of the training set when that is smaller)",
    )
    add.add_argument(
        "--kind",
        choices=IMAGE_KINDS,
        default="digits",
        help="what the images show, for `predict`: digits (pen strokes, MNIST's pre-processing; the "
        "default) or objects (scaled whole into 28x28, Fashion-MNIST's)",
    )
    add.set_defaults(handler=run_add)

    remove = actions.add_parser("remove", help="forget a dataset you added (its files are not touched)")
    remove.add_argument("name", metavar="NAME")
    remove.set_defaults(handler=run_remove)


def run_info(args: argparse.Namespace) -> int:
    data = load_data(args)
    info = dataset_info(data)
    splits = info["splits"]
    if args.json:
        print_json(info)
        return 0
    shown = data.name if info["title"] == data.name else f"{info['title']} ({data.name})"
    print(f"{shown}: found via {info['source']} in {info['root']} (verified: {info['verified']})")
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
    if not spec.mirrors:
        raise DataError(
            f"Dataset {spec.name!r} was added from {spec.folder} and has nowhere to be downloaded from; "
            f"it is used where it is."
        )
    dest = Path(args.dir) if args.dir else default_cache_dir(spec.name)
    paths = download_dataset(spec, dest, timeout=args.timeout, progress=download_bar("download"))
    print(f"{spec.name}: {len(paths)} files downloaded and verified in {dest}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    rows = all_datasets()
    if args.json:
        print_json({"datasets": rows})
        return 0
    width = max(len(str(row["name"])) for row in rows)
    for row in rows:
        if "error" in row:
            print(f"{row['name']:<{width}}  added, unreadable: {row['error']}")
            continue
        source = (
            f"built-in ({row['title']})" if row["source"] == "built-in" else f"added from {row['folder']}"
        )
        classes = list(row["classes"])  # type: ignore[call-overload]
        shown = ", ".join(classes if len(classes) <= 12 else [*classes[:11], "..."])
        print(f"{row['name']:<{width}}  {source}; {len(classes)} classes: {shown}")
    return 0


def run_add(args: argparse.Namespace) -> int:
    classes = None
    if args.classes is not None:
        classes = parse_classes(args.classes, separator=",", what="--classes")
    elif args.classes_file is not None:
        classes = parse_classes(
            read_classes_file(args.classes_file), separator="\n", what=f"Classes file {args.classes_file}"
        )
    spec = add_dataset(
        args.name, args.dir, classes=classes, validation_size=args.val_size, image_kind=args.kind
    )
    print(
        f"Added {spec.name!r} from {spec.folder}: {len(spec.classes)} classes "
        f"({', '.join(spec.classes)}), validation = the first {spec.validation_size:,} training images, "
        f"{spec.image_kind}. Recorded content SHA-256:"
    )
    for role, file in spec.files_by_role.items():
        print(f"  {role:<13} {file.sha256}  {file.filename}")
    print(f"Use it with --dataset {spec.name}; `mnistlab data remove {spec.name}` forgets it.")
    return 0


def run_remove(args: argparse.Namespace) -> int:
    folder = remove_dataset(args.name)
    kept = f"; its files in {folder} are untouched" if folder is not None else ""
    print(f"Forgot dataset {args.name!r}{kept}.")
    return 0
