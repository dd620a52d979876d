"""``scale-vqa build --release DIR --out OUT``: a release folder → a Hub-ready dataset folder (``data`` extra)."""

from __future__ import annotations

import argparse
import sys

IMAGE_CHECKS = ("fast", "decode", "none")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("build", help="build a Hub-ready dataset folder (parquet + card) from a release",
                       description="Read the split files in DIR (train.json / val.json / test.json, or .jsonl, "
                                   "whichever exist), check every image, and write OUT: parquet shards with the "
                                   "original image bytes embedded, a dataset card (README.md) and checksums. "
                                   "`datasets.load_dataset(OUT)` then gives the typed dataset. Needs the data "
                                   "extra. OUT is written atomically: on any error it is left as it was.")
    p.add_argument("--release", required=True, metavar="DIR", help="folder holding the split files")
    p.add_argument("--images", metavar="IMGDIR", help="folder the image paths are relative to (default: DIR)")
    p.add_argument("--out", required=True, metavar="OUT", help="output folder")
    p.add_argument("--allow-missing-images", action="store_true",
                   help="store None for image files that do not exist (default: every missing file is an error)")
    p.add_argument("--image-check", choices=IMAGE_CHECKS, default="fast",
                   help="fast: header and completeness (default); decode: decode every image; none: no check")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if an earlier build made it")
    p.add_argument("--max-shard-size", type=int, default=500, metavar="MB", help="shard size (default 500 MB)")
    p.add_argument("--license", default="unknown", help="license id for the card (default: unknown)")
    p.add_argument("--config", action="append", default=[], metavar="NAME=FILE",
                   help="add a config holding only the items listed in FILE (e.g. the hard subset written by "
                        "`scale-vqa audit --write-subset`); repeatable")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..problems import InputError
    from . import missing_extra

    problem = missing_extra("data", "datasets", "pyarrow", "PIL", "tqdm")
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    from builders.export import build_dataset, read_subset
    try:
        subsets = []
        for spec in args.config:
            name, sep, path = spec.partition("=")
            if not sep or not path:
                raise ValueError(f"--config {spec!r}: use NAME=FILE")
            subsets.append(read_subset(name.strip(), path.strip()))
        summary = build_dataset(args.release, args.out, images=args.images,
                                allow_missing_images=args.allow_missing_images, image_check=args.image_check,
                                overwrite=args.overwrite, max_shard_bytes=args.max_shard_size * 2**20,
                                license=args.license, progress=not args.quiet, subsets=subsets)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (FileNotFoundError, FileExistsError, NotADirectoryError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for problem in summary.warnings[:20]:
        print(problem, file=sys.stderr)
    if len(summary.warnings) > 20:
        print(f"… and {len(summary.warnings) - 20} more warning(s)", file=sys.stderr)
    print(f"built {summary.out}: " + ", ".join(f"{s.name} {s.n_rows} rows in {len(s.shards)} shard(s)"
                                               for s in summary.splits.values()))
    for name, sub in summary.subsets.items():
        print(f"config {name}: " + ", ".join(f"{s.name} {s.n_rows} rows" for s in sub.splits.values()))
    print(f'load it with: datasets.load_dataset("{summary.out}")'
          + "".join(f' (or "{summary.out}", "{name}")' for name in summary.subsets))
    return 0
