"""`scale-vqa fetch` (being built)."""

from __future__ import annotations

import argparse

from scale_vqa.errors import UsageError


def add_fetch_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fetch", help="fetch the published release from the Hub (not built yet)")
    p.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    raise UsageError("scale-vqa fetch is not built yet")
