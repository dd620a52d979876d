"""``scale-vqa build`` and ``scale-vqa push``: a release folder → a Hub-ready dataset folder, and its upload."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from scale_vqa.errors import as_bad_input, require_extra

IMAGE_CHECKS = ("fast", "decode", "none")
DATA_MODULES = ("datasets", "pyarrow", "PIL", "tqdm")
"""What ``build`` needs (the ``data`` extra)."""


def add_build_parser(sub: argparse._SubParsersAction) -> None:
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
    p.add_argument("--config", action="append", default=[], type=config_arg, metavar="NAME=FILE",
                   help="add a config holding only the items listed in FILE (e.g. the hard subset written by "
                        "`scale-vqa audit --write-subset`); repeatable")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run_build)


def config_arg(text: str) -> tuple[str, str]:
    """``--config NAME=FILE`` → (name, file); a malformed value or name is a usage error."""
    from builders.dataset.export import check_subset_name

    name, sep, path = text.partition("=")
    if not sep or not path.strip():
        raise argparse.ArgumentTypeError(f"{text!r}: use NAME=FILE")
    try:
        return check_subset_name(name.strip()), path.strip()
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def run_build(args: argparse.Namespace) -> int:
    require_extra("data", *DATA_MODULES, what="scale-vqa build")
    from builders.dataset.export import build_dataset, read_subset

    with as_bad_input(FileNotFoundError, NotADirectoryError, ValueError):  # the release reader's own errors
        subsets = [read_subset(name, path) for name, path in args.config]
        summary = build_dataset(args.release, args.out, images=args.images,
                                allow_missing_images=args.allow_missing_images, image_check=args.image_check,
                                overwrite=args.overwrite, max_shard_bytes=args.max_shard_size * 2**20,
                                license=args.license, progress=not args.quiet, subsets=subsets)
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


def add_push_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("push", help="upload a built dataset folder to the Hugging Face Hub",
                       description="Verify OUT's checksums and upload it as a dataset repository with "
                                   "huggingface_hub (created if needed). Needs a token (`hf auth login` or "
                                   "HF_TOKEN) and network; fails clearly when HF_HUB_OFFLINE is set.")
    p.add_argument("folder", metavar="OUT", help="folder made by `scale-vqa build`")
    p.add_argument("--repo-id", required=True, help="dataset repository, e.g. my-org/scale-vqa")
    p.add_argument("--private", action="store_true", help="create the repository as private")
    p.add_argument("--revision", help="branch to commit to (default: main)")
    p.add_argument("--token", help="Hugging Face token (default: the logged-in one or HF_TOKEN)")
    p.add_argument("--message", help="commit message")
    p.set_defaults(run=run_push)


def run_push(args: argparse.Namespace) -> int:
    require_extra("data", "huggingface_hub", "datasets", what="scale-vqa push")
    from builders.dataset.hub import push_folder

    url = push_folder(args.folder, args.repo_id, token=args.token, private=args.private, revision=args.revision,
                      message=args.message)
    print(f"uploaded {args.folder} to https://huggingface.co/datasets/{args.repo_id} ({url})")
    return 0


def demo_step(out: Path, paths: dict[str, Path]) -> int:
    """Step 4: build the demo release into a Hub-ready dataset folder when the data extra is installed."""
    dataset = out / "dataset"
    print(f"\n== 4. scale-vqa build --release {paths['release'].parent} --images {paths['images']} --out {dataset}")
    require_extra("data", *DATA_MODULES, what="building the dataset")
    from datasets import load_dataset

    from builders.dataset.export import build_dataset

    summary = build_dataset(paths["release"].parent, dataset, images=paths["images"], progress=False)
    from datasets.utils.logging import disable_progress_bar

    disable_progress_bar()
    val = load_dataset(str(dataset), split="validation", cache_dir=str(out / ".hf-cache"))
    row = val[0]
    shown = [k for k in ("low_mag", "mid_mag", "high_mag") if row[k] is not None]
    answer, dimension = val.features["answer"].names[row["answer"]], val.features["dimension"].names[row["dimension"]]
    print(f"   {summary.n_rows} rows, {len(summary.splits['validation'].shards)} parquet shard(s), card and checksums")
    print(f'   load_dataset("{dataset}")["validation"][0]: id {row["id"]}, '
          f"{len(shown)} images ({type(row[shown[0]]).__name__}), answer {answer}, dimension {dimension}")
    return 0
