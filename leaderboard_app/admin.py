"""``scale-vqa leaderboard admin``: the maintainers' commands on a leaderboard database, no server needed.

* ``list``: every row (id, submitter, model, variant, status, verified, date, reason);
* ``retract ROW_ID --reason TEXT``: take a row off the table (it stays in the database and in the counts);
* ``verify ROW_ID`` / ``unverify ROW_ID``: set or clear the *verified* mark (a maintainer reproduced the run).

Standard library only (the store is SQLite): it runs where the ``app`` extra is not installed."""

from __future__ import annotations

import argparse
import time
import unicodedata
from pathlib import Path

from scale_vqa.errors import BadInputError
from scale_vqa.markdown import markdown_table

from .store import SQLiteStore

ACTIONS = ("list", "retract", "verify", "unverify")
STATUSES = ("published", "held", "retracted")


def add_admin_parser(sub: argparse._SubParsersAction) -> None:
    """``admin`` under ``scale-vqa leaderboard`` (serving keeps its own options: ``leaderboard --key …``)."""
    p = sub.add_parser("admin", help="maintainers: list, retract, verify or unverify rows of a leaderboard database",
                       description="Maintainers' commands on a leaderboard database (no server, no app extra).")
    actions = p.add_subparsers(dest="admin_action", metavar="ACTION", required=True)
    for action, text in (("list", "print every row: id, submitter, model, variant, status, verified"),
                         ("retract", "take a row off the table (kept in the database and the submission counts)"),
                         ("verify", "mark a row verified: a maintainer reproduced the run"),
                         ("unverify", "clear a row's verified mark")):
        a = actions.add_parser(action, help=text, description=text[0].upper() + text[1:] + ".")
        a.add_argument("--db", required=True, metavar="PATH", help="the leaderboard's SQLite database")
        if action != "list":
            a.add_argument("row_id", type=int, metavar="ROW_ID", help="the row's id (the # on the page)")
        if action == "retract":
            a.add_argument("--reason", default="retracted by a maintainer", metavar="TEXT",
                           help="why (stored with the row)")
        a.set_defaults(run=run_admin)


def shown(text: str, limit: int = 60) -> str:
    """A stored name as a terminal may print it: invisible and control characters as ``\\uXXXX``, cut to `limit`."""
    out = "".join(f"\\u{ord(ch):04x}" if unicodedata.category(ch)[0] in "CZ" and ch != " " else ch for ch in text)
    return out if len(out) <= limit else out[:limit - 1] + "…"


def run_admin(args: argparse.Namespace) -> int:
    db = Path(args.db)
    if not db.is_file():
        raise BadInputError(f"--db {db}: file not found")
    store = SQLiteStore(db)
    if args.admin_action == "list":
        rows = store.rows(statuses=STATUSES)
        body = [[str(r.id), shown(r.submitter), shown(r.model), r.variant, r.status, "yes" if r.verified else "no",
                 time.strftime("%Y-%m-%d %H:%M", time.gmtime(r.created)), shown(r.reason)] for r in rows]
        print(markdown_table(["id", "submitter", "model", "variant", "status", "verified", "created (UTC)",
                              "reason"], body, "r"))
        print(f"{len(rows)} row(s) in {db}")
        return 0
    row = next((r for r in store.rows(statuses=STATUSES) if r.id == args.row_id), None)
    if row is None:
        raise BadInputError(f"--db {db}: no submission #{args.row_id}")
    if args.admin_action == "retract":
        store.retract(row.id, args.reason)
        print(f"#{row.id} ({shown(row.model)} by {shown(row.submitter)}) retracted: {args.reason}")
    elif args.admin_action == "verify":
        if row.status == "retracted":
            raise BadInputError(f"#{row.id} is retracted; a retracted row cannot be verified")
        store.verify(row.id)
        print(f"#{row.id} ({shown(row.model)} by {shown(row.submitter)}) verified")
    else:
        store.unverify(row.id)
        print(f"#{row.id} ({shown(row.model)} by {shown(row.submitter)}) no longer verified")
    return 0
