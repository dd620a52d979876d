"""``scale-vqa report RUN_DIR…``: compare eval runs across models and variants, with image and cross-scale gains."""

from __future__ import annotations

import argparse
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="compare scale-vqa eval runs: variants, image gain, cross-scale gain",
                       description="Table of every run folder's variants (macro accuracy per dimension) and, per "
                                   "run, the image gain (all scales − no images), cross-scale gain (all scales − "
                                   "best single scale) and shuffle drop, with 95% paired-bootstrap intervals.")
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="folders written by scale-vqa eval")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from evaluator.report import read_run, render

    try:
        runs = [read_run(folder) for folder in args.runs]
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(render(runs))
    return 0
