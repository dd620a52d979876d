"""The ``scale-vqa`` command line. Each command lives in a small module that registers its arguments
without importing anything heavy; the work (and any spoke) is imported only when the command runs, so
``scale-vqa --help`` is instant."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from . import __version__

COMMAND_MODULES: tuple[str, ...] = (
    "scale_vqa.commands.validate",
    "scale_vqa.commands.score",
    "scale_vqa.commands.audit",
    "scale_vqa.commands.demo",
    "scale_vqa.commands.build",
    "scale_vqa.commands.push",
    "scale_vqa.commands.extract",
    "scale_vqa.commands.leaderboard",
    "scale_vqa.commands.eval",
    "scale_vqa.commands.report",
    "scale_vqa.commands.train",
    "scale_vqa.commands.baselines",
)
"""Modules with ``add_parser(subparsers)``; a spoke adds its own light command module here."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scale-vqa",
        description="Scale-VQA: leakage-audited evaluation for cross-scale pathology VQA.",
    )
    parser.add_argument("--version", action="version", version=f"scale-vqa {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
