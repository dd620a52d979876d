"""`scale-vqa curate` (being built)."""

from __future__ import annotations

import argparse

from scale_vqa.errors import UsageError


def add_curate_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("curate", help="repair leaky MCQs (not built yet)")
    p.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    raise UsageError("scale-vqa curate is not built yet")
