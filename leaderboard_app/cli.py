"""``scale-vqa leaderboard``: run the leaderboard app locally (the work lives in ``leaderboard_app``), and
``scale-vqa leaderboard admin list|retract|verify|unverify`` for the maintainers (:mod:`leaderboard_app.admin`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from scale_vqa.errors import BadInputError, UsageError, require_extra


def add_leaderboard_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("leaderboard", help="run the leaderboard web app (Gradio) against a hidden answer key",
                       description="Serve the Scale-VQA leaderboard: researchers upload per-item predictions, "
                                   "which are validated and scored here against KEY (any MCQ file in the release "
                                   "format; it is never served) and stored in a SQLite database. Needs the 'app' "
                                   "extra. Maintainers: `scale-vqa leaderboard admin --help`.")
    p.add_argument("--key", metavar="FILE", help="answer key: an MCQ file in the release format (required to serve)")
    p.add_argument("--public-key", action="store_true",
                   help="the key's answers are public (e.g. the released test split): rows are shown as "
                        "self-reported with exact scores; by default the key is private and the probing defences "
                        "apply (every item answered, near-duplicates refused, Ladder-disclosed rounded scores)")
    p.add_argument("--db", default="leaderboard.sqlite", metavar="PATH", help="SQLite database (created if absent)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--max-mb", type=float, default=8.0, help="upload size limit in MB (default 8)")
    p.add_argument("--quota", type=int, default=5, help="submissions per submitter per 24 h (default 5)")
    p.add_argument("--seed-rows", metavar="FILE",
                   help="reference rows shown below the ranking (default: the seed paper's published rows; write "
                        "your own with `scale-vqa baselines table … --export-leaderboard FILE`; 'none' for none)")
    p.add_argument("--split", help="split of the key, for the seed rows shown (default: from the key's file name "
                                   "when it names a split, else test)")
    p.set_defaults(run=run_leaderboard)
    from .admin import add_admin_parser

    add_admin_parser(p.add_subparsers(dest="leaderboard_command", metavar="admin"))


def run_leaderboard(args: argparse.Namespace) -> int:
    if args.key is None:
        raise UsageError("scale-vqa leaderboard: --key FILE is required to serve (or: scale-vqa leaderboard admin …)")
    require_extra("app", "gradio", "matplotlib", what="scale-vqa leaderboard")
    for option, path in (("--key", args.key), ("--seed-rows", args.seed_rows)):
        if path not in (None, "none") and not Path(path).is_file():
            raise BadInputError(f"{option} {path}: file not found")
    from leaderboard_app.app import serve
    from leaderboard_app.rules import Policy

    seeds = {} if args.seed_rows is None else {"seed_rows": None if args.seed_rows == "none" else args.seed_rows}
    serve(args.key, args.db, host=args.host, port=args.port, max_bytes=int(args.max_mb * 2**20),
          policy=Policy(quota=args.quota), split=args.split, public_key=args.public_key, **seeds)
    return 0


def demo_step(out: Path, paths: dict[str, Path]) -> int:
    """Step 6: the two simulated systems submitted to a leaderboard store (no server), when the app extra is there."""
    db = out / "leaderboard.sqlite"
    print(f"\n== 6. leaderboard: submissions scored against the hidden key into {db} "
          f"(serve it with: scale-vqa leaderboard --key {paths['release']} --public-key --db {db})")
    require_extra("app", "gradio", what="this step")
    from leaderboard_app.rules import Policy
    from leaderboard_app.service import submit
    from leaderboard_app.store import SQLiteStore
    from leaderboard_app.submission import SubmissionError
    from leaderboard_app.table import HEADERS, build_table, display_rows
    from scale_vqa.markdown import markdown_table
    from scale_vqa.predictions import read_predictions
    from scale_vqa.release import load_items

    key = load_items(paths["release"])
    store = SQLiteStore(db)
    for name, file, variant in (("simulated VLM", "vlm", "standard"), ("simulated VLM", "blind", "blind")):
        data = paths[file].read_bytes()
        preds, report = read_predictions(paths[file])  # the core reader (BOM, blank lines, errors with lines)
        if not report.ok:
            print(f"   {name} ({variant}): not submitted: {paths[file]} is not valid:\n      "
                  + report.format(limit=5).replace("\n", "\n      "))
            continue
        if data.startswith(b"\xef\xbb\xbf") or not data.endswith(b"\n"):  # appended lines must start a line
            data = data.removeprefix(b"\xef\xbb\xbf").rstrip(b"\n") + b"\n"
        answered = set(preds)
        # the leaderboard wants every item: an item the model skipped is submitted as null (scored wrong)
        data += "".join(json.dumps({"id": it.id, "prediction": None}) + "\n"
                        for it in key if it.id not in answered).encode()
        try:
            out_ = submit(store, key, data, submitter="demo", model=name, link="https://example.org/simulated",
                          variant=variant, policy=Policy(private=False))  # the demo's key is public
            print(f"   {name} ({variant}): {out_.decision.action} as #{out_.row.id}")
        except SubmissionError as exc:
            print(f"   {name} ({variant}): not accepted: {exc.summary}")
    rows = display_rows(build_table(store.rows(), key, split="validation"), store.submission_counts())
    keep = [0, 1, 3, 9, 10, 11, 12]
    table = markdown_table([HEADERS[i] for i in keep], [[r[i] for i in keep] for r in rows], "lllrrrr")
    print("   " + table.replace("\n", "\n   "))
    return 0
