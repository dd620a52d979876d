"""``scale-vqa validate FILE…``: check MCQ files in the release format and summarise them."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="check MCQ files (release format) and summarise them",
                       description="Check MCQ files in the release format; list every problem with file, line, "
                                   "record index and field. Exit 1 when there is an error.")
    p.add_argument("files", nargs="+", metavar="FILE", help="JSON array or .jsonl files (e.g. val.json)")
    p.add_argument("--split", help="split name for every file (default: from each file name)")
    p.add_argument("--images", metavar="DIR", help="also check that every image file exists under DIR (and resolves, "
                                                   "following symlinks, to a file inside it)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON (includes item ids)")
    p.add_argument("--max-problems", type=int, default=50, metavar="N",
                   help="problems listed in the text summary (default 50; --json lists all)")
    p.set_defaults(run=run)


def summarise(result: Any) -> dict[str, Any]:
    """The validation summary as a JSON-ready dict."""
    from ..dimensions import DIMENSIONS, SCALES

    items = result.items
    dims = Counter(item.dimension for item in items)
    missing = [item for item in items if item.images.missing()]
    return {
        "files": result.files,
        "ok": result.ok,
        "n_records": result.n_records,
        "n_items": len(items),
        "per_dimension": {d.code: {"name": d.value, "n": dims.get(d, 0)} for d in DIMENSIONS},
        "per_split": dict(Counter(item.split for item in items)),
        "missing_images": {
            "n_items": len(missing),
            "by_scale": {s.value: sum(1 for i in items if i.images.get(s) is None) for s in SCALES},
            "ids": [item.id for item in missing],
        },
        "duplicates": {
            "ids": result.duplicate_ids,
            "content": [{"id": a, "same_as": b} for a, b in result.duplicate_content],
        },
        "n_errors": len(result.report.errors),
        "n_warnings": len(result.report.warnings),
        "problems": [p.to_dict() for p in result.report.errors + result.report.warnings],
        "ids": [item.id for item in items],
    }


def render(summary: dict[str, Any], report_text: str) -> str:
    lines = [f"files: {', '.join(summary['files'])}",
             f"records: {summary['n_records']}, valid items: {summary['n_items']}"]
    lines.append("items per dimension: " + ", ".join(
        f"{v['name']} ({code}) {v['n']}" for code, v in summary["per_dimension"].items()))
    lines.append("items per split: " + (", ".join(f"{k} {v}" for k, v in summary["per_split"].items()) or "none"))
    mi = summary["missing_images"]
    by_scale = ", ".join(f"{k} {v}" for k, v in mi["by_scale"].items() if v)
    lines.append(f"items with a missing image: {mi['n_items']}" + (f" ({by_scale})" if by_scale else ""))
    if mi["ids"]:
        shown = mi["ids"][:20]
        lines.append("  " + ", ".join(shown) + (f", … {len(mi['ids']) - len(shown)} more" if len(mi["ids"]) > 20
                                                else ""))
    dup = summary["duplicates"]
    lines.append(f"duplicate ids: {len(dup['ids'])}; items repeating another's question, options and images: "
                 f"{len(dup['content'])}")
    lines.append(f"problems: {summary['n_errors']} error(s), {summary['n_warnings']} warning(s)")
    if report_text:
        lines.extend("  " + line for line in report_text.splitlines())
    lines.append("OK" if summary["ok"] else "FAILED: fix the errors above")
    return "\n".join(lines)


def outside_images(result: Any, root: str | Path, files: list[str], split: str | None) -> None:
    """Refuse the items of `result` whose image paths resolve (symlinks followed, ``..`` and absolute paths
    included) outside the image folder `root`: one error per image, naming the file, the item and the field, and
    the item left out (as for a missing image). Such a file is not part of the release: a build would embed it."""
    from ..problems import Problem
    from ..release import read_release

    root = Path(root)
    real_root = root.resolve()
    bad: list[tuple[Any, str, Path, Path]] = []
    for item in result.items:
        for scale, rel in item.images:
            if rel is not None and not (real := (root / rel).resolve()).is_relative_to(real_root):
                bad.append((item, scale.value, root / rel, real))
    if not bad:
        return
    file_of = {it.id: f for f in files for it in read_release(f, split=split).items} if len(files) > 1 else {}
    for item, field, path, real in bad:
        result.report.add(Problem(file_of.get(item.id, files[0]), f"image file {path} resolves to {real}, outside "
                                  f"the image folder {root}; links out of the image folder are refused", "error",
                                  None, None, f"image_path.{field}", item.id))
    refused = {item.id for item, *_ in bad}
    result.items[:] = [it for it in result.items if it.id not in refused]


def run(args: argparse.Namespace) -> int:
    from ..errors import EXIT_INPUT, EXIT_OK
    from ..release import read_release

    result = read_release(args.files, split=args.split, image_root=args.images)
    if args.images:
        outside_images(result, args.images, list(args.files), args.split)
    summary = summarise(result)
    if args.json:
        print(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        print(render(summary, result.report.format(limit=args.max_problems)))
    return EXIT_OK if result.ok else EXIT_INPUT
