"""The command-line arguments and input loading of anything that runs the adversary panel (``scale-vqa audit``,
``scale-vqa baselines measure``)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scale_vqa.item import Item


def fold_count(text: str) -> int:
    """``--folds``: an integer of at least 2."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 2:
        raise argparse.ArgumentTypeError(f"grouped cross-fitting needs at least 2 folds: {text!r}")
    return value


def add_panel_arguments(p: argparse.ArgumentParser, *, adversaries_help: str = "") -> None:
    """Add the panel's arguments to `p`."""
    p.add_argument("files", nargs="+", metavar="FILE", help="MCQ file(s) in the release format (.json / .jsonl)")
    p.add_argument("--split", help="split name for ids (default: from the file name)")
    p.add_argument("--fit-on", action="append", metavar="FILE",
                   help="fit trainable adversaries on this file (repeatable, e.g. the train split) instead of "
                        "grouped CV by slide")
    p.add_argument("--adversaries", default="offline", metavar="LIST",
                   help="comma-separated adversary or group names (groups: heuristics, learned, embedding, "
                        "structure, fast, offline; default offline). 'scale-vqa audit --list' shows all"
                        + adversaries_help)
    p.add_argument("--folds", type=fold_count, default=5, help="grouped CV folds (default 5, at least 2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=1,
                   help="worker processes for the offline adversaries (default 1: on 2 cores one process, its "
                        "models on one thread while a second process embeds the texts, is fastest; more help on "
                        "many-core machines)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def load_panel_inputs(args: argparse.Namespace) -> tuple[list[Item], list[Item] | None]:
    """The items to answer and the items to fit on (``--fit-on``), warning when they overlap. Raises
    :class:`~scale_vqa.problems.InputError` (a :class:`~scale_vqa.errors.BadInputError`)."""
    from scale_vqa.release import load_items

    items = load_items(args.files, split=args.split)
    fit_items = load_items(args.fit_on) if args.fit_on else None
    if fit_items is not None:
        shared = {it.id for it in items} & {it.id for it in fit_items}
        content = {(it.question, it.options) for it in items} & {(it.question, it.options) for it in fit_items}
        if shared or content:
            print(f"warning: the --fit-on file shares {len(shared)} id(s) and {len(content)} question(s) with the "
                  "audited file: adversaries fitted on it have seen those items", file=sys.stderr)
    return items, fit_items
