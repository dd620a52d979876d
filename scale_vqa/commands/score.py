"""``scale-vqa score --predictions P --key FILE``: the per-dimension table of one or more systems."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("score", help="score predictions against an answer key",
                       description="Score predictions JSONL files ({\"id\", \"prediction\"} or {\"id\", "
                                   "\"output\"}) against a key in the release format. Several --predictions "
                                   "give several rows (e.g. a model, its blind run, a text-only baseline), each "
                                   "tested against the first with McNemar's exact test.")
    p.add_argument("--predictions", "-p", action="append", required=True, metavar="P",
                   help="predictions JSONL (repeat for more rows)")
    p.add_argument("--key", "-k", action="append", required=True, metavar="FILE",
                   help="MCQ file(s) with the gold answers (repeatable)")
    p.add_argument("--name", action="append", metavar="NAME",
                   help="row name for each --predictions, in order (default: the file name)")
    p.add_argument("--split", help="split name of the key files (default: from the file names)")
    p.add_argument("--circular", action="store_true",
                   help="CircularEval: predictions cover every option rotation (ids ITEM/rotK)")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import UsageError
    from ..predictions import read_predictions
    from ..problems import InputError, ValidationReport
    from ..release import read_release
    from ..report import details, paired_lines, seed_table
    from ..scoring import score

    names = args.name or []
    if len(names) > len(args.predictions):
        raise UsageError("more --name than --predictions")
    key = read_release(args.key, split=args.split)
    if not key.ok:
        raise InputError(key.report, f"the key {args.key}")
    rows = []
    failed = ValidationReport()
    for i, path in enumerate(args.predictions):
        preds, report = read_predictions(path)
        if not report.ok:
            failed.extend(report.errors)
            continue
        name = names[i] if i < len(names) else Path(path).stem
        rep = score(key.items, preds, circular=args.circular)
        if preds and 2 * len(rep.unknown_ids) > len(preds):
            print(f"warning: {path}: {len(rep.unknown_ids)} of {len(preds)} prediction ids are not in the key "
                  f"(e.g. {rep.unknown_ids[0]!r}; key ids look like {key.items[0].id!r}). Wrong split or key?"
                  + ("" if args.circular else " Use --circular for rotated predictions."), file=sys.stderr)
        rows.append((name, rep))
    if not failed.ok:
        raise InputError(failed, "predictions")
    if args.json:
        print(json.dumps({name: rep.to_dict() for name, rep in rows}, ensure_ascii=False, indent=2))
        return 0
    print(seed_table(rows))
    for name, rep in rows:
        print()
        print(details(name, rep))
    paired = paired_lines(rows)
    if paired:
        print()
        print(paired)
    return 0
