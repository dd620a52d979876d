"""``scale-vqa fetch``: the published release (or one laid out like it) from the Hub, optionally built."""

from __future__ import annotations

import argparse

from scale_vqa.errors import as_bad_input, require_extra

FETCH_MODULES = ("huggingface_hub", "datasets", "pyarrow", "PIL", "tqdm")
"""What ``fetch`` needs (the ``data`` extra)."""


def add_fetch_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fetch", help="download the published release from the Hugging Face Hub (and build it)",
                       description="Download the chosen splits of a Scale-VQA release from a Hub dataset repository "
                                   "(split files under data/) and exactly the images they reference, check them "
                                   "against the Hub's checksums, and write DIR/fetch.json (repository, revision, "
                                   "commit, files, bytes, missing images). Rerunning resumes: finished files are "
                                   "kept. Honours HF_TOKEN, HF_ENDPOINT and HF_HUB_OFFLINE. Needs the data extra.")
    p.add_argument("--repo-id", default="iMVR-PL/Scale-VQA",
                   help="Hub dataset repository (default: iMVR-PL/Scale-VQA, the official release)")
    p.add_argument("--revision", default="main", help="branch, tag or commit (default: main)")
    p.add_argument("--splits", nargs="+", metavar="SPLIT", help="splits to fetch: train val test (default: all)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder to download into (created; reused to resume)")
    p.add_argument("--build", metavar="OUT", help="also build the fetched splits into a dataset folder OUT "
                                                  "(as `scale-vqa build` does)")
    p.add_argument("--allow-missing-images", action="store_true",
                   help="fetch and build even when the repository lacks images the split files reference "
                        "(listed in fetch.json; stored as None)")
    p.add_argument("--overwrite", action="store_true", help="replace OUT of --build if an earlier build made it")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=run_fetch)


def run_fetch(args: argparse.Namespace) -> int:
    require_extra("data", *FETCH_MODULES, what="scale-vqa fetch")
    from builders.fetch.release import FETCH_JSON, build_fetched, fetch_release

    summary = fetch_release(args.out, repo_id=args.repo_id, revision=args.revision, splits=args.splits,
                            allow_missing_images=args.allow_missing_images, progress=not args.quiet)
    print(f"fetched {summary.repo_id}@{summary.revision} (commit {summary.commit}) into {summary.out}: "
          f"{summary.files} files, {summary.bytes / 1e6:.1f} MB; splits "
          + ", ".join(f"{split} ({path})" for split, path in summary.split_files.items()))
    if summary.missing_images:
        print(f"{len(summary.missing_images)} referenced image(s) are not in the repository (listed in "
              f"{summary.out}/{FETCH_JSON}); their columns are None")
    if args.build:
        with as_bad_input(FileNotFoundError, NotADirectoryError, ValueError):
            built = build_fetched(summary, args.build, overwrite=args.overwrite, progress=not args.quiet)
        print(f"built {built.out}: " + ", ".join(f"{s.name} {s.n_rows} rows" for s in built.splits.values()))
        print(f'load it with: datasets.load_dataset("{built.out}")')
    return 0
