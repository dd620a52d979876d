"""``scale-vqa push OUT --repo-id ORG/NAME``: upload a built dataset folder to the Hub (``data`` extra)."""

from __future__ import annotations

import argparse
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
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
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from . import missing_extra

    problem = missing_extra("data", "huggingface_hub", "datasets")
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    from builders.hub import PushError, push_folder
    try:
        url = push_folder(args.folder, args.repo_id, token=args.token, private=args.private,
                          revision=args.revision, message=args.message)
    except PushError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"uploaded {args.folder} to https://huggingface.co/datasets/{args.repo_id} ({url})")
    return 0
