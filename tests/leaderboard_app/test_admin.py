"""``scale-vqa leaderboard admin list|retract|verify|unverify`` on a database, the ``verified`` column added to a
database written before it existed, and serving (``scale-vqa leaderboard --key …``) unchanged beside it."""

from __future__ import annotations

import json
import sqlite3

import pytest

from leaderboard_app.service import submit
from leaderboard_app.store import SQLiteStore
from leaderboard_app.table import HEADERS, build_table, display_rows, to_csv
from scale_vqa.cli import main
from tests.helpers.items import make_key

KEY = make_key(4)
LINK = "https://huggingface.co/org/model"
OLD_SCHEMA = """
CREATE TABLE submissions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, submitter TEXT NOT NULL, model TEXT NOT NULL, link TEXT NOT NULL,
    paper TEXT NOT NULL DEFAULT '', kind TEXT NOT NULL, variant TEXT NOT NULL DEFAULT 'standard',
    file_sha256 TEXT NOT NULL, letters TEXT NOT NULL, letters_sha256 TEXT NOT NULL DEFAULT '', scores TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('published', 'held', 'retracted')), reason TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL);
"""


def answers(shift: int) -> bytes:
    return "".join(json.dumps({"id": it.id, "prediction": it.letters[(i + shift) % len(it.letters)]}) + "\n"
                   for i, it in enumerate(KEY)).encode()


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "lb.sqlite"
    store = SQLiteStore(path)
    submit(store, KEY, answers(0), submitter="alice", model="Alice-VL", link=LINK, now=1000)
    submit(store, KEY, answers(1), submitter="bob", model="Bob-VL", link=LINK, now=1001)
    return path


def test_list_retract_verify_unverify(db, capsys):
    assert main(["leaderboard", "admin", "list", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "| id | submitter | model | variant | status | verified |" in out
    assert "| 1 | alice | Alice-VL | standard | published | no |" in out and "2 row(s)" in out
    assert main(["leaderboard", "admin", "verify", "1", "--db", str(db)]) == 0
    assert "#1 (Alice-VL by alice) verified" in capsys.readouterr().out
    store = SQLiteStore(db)
    table = build_table(store.rows(), KEY)  # exact numbers: a public key's table, self-reported
    alice = next(r for r in table if r.submitter == "alice")
    assert alice.verified and display_rows([alice])[0][HEADERS.index("Source")] == "measured · self-reported · verified"
    assert ",True," in next(line for line in to_csv(table).splitlines() if "Alice-VL" in line)
    assert main(["leaderboard", "admin", "unverify", "1", "--db", str(db)]) == 0
    assert not next(r for r in SQLiteStore(db).rows() if r.id == 1).verified
    assert main(["leaderboard", "admin", "retract", "2", "--db", str(db), "--reason", "copied answers"]) == 0
    assert [r.id for r in SQLiteStore(db).rows()] == [1]
    capsys.readouterr()
    assert main(["leaderboard", "admin", "list", "--db", str(db)]) == 0
    assert "| 2 | bob | Bob-VL | standard | retracted | no |" in capsys.readouterr().out
    assert main(["leaderboard", "admin", "verify", "2", "--db", str(db)]) == 1
    assert "retracted" in capsys.readouterr().err


def test_errors(db, tmp_path, capsys):
    assert main(["leaderboard", "admin", "verify", "99", "--db", str(db)]) == 1
    assert "no submission #99" in capsys.readouterr().err
    assert main(["leaderboard", "admin", "list", "--db", str(tmp_path / "absent.sqlite")]) == 1
    assert "file not found" in capsys.readouterr().err
    assert not (tmp_path / "absent.sqlite").exists()
    with pytest.raises(SystemExit) as err:
        main(["leaderboard", "admin", "frobnicate", "--db", str(db)])
    assert err.value.code == 2
    with pytest.raises(SystemExit):
        main(["leaderboard", "admin", "retract", "--db", str(db)])  # ROW_ID missing
    assert main(["leaderboard"]) == 2  # serving still needs --key
    assert "--key" in capsys.readouterr().err


def test_hostile_names_are_listed_escaped(tmp_path, capsys):
    path = tmp_path / "lb.sqlite"
    store = SQLiteStore(path)
    entry = {"submitter": "eve\u202eexe.txt", "model": "x" * 5000, "link": LINK, "kind": "predictions",
             "file_sha256": "f", "letters": {}, "scores": {}}
    from leaderboard_app.rules import Decision

    store.submit(entry, lambda earlier: Decision("publish"))  # a row stored before names were checked
    assert main(["leaderboard", "admin", "list", "--db", str(path)]) == 0
    out = capsys.readouterr().out
    assert "eve\\u202eexe.txt" in out and "\u202e" not in out and "x" * 100 not in out


def test_an_old_database_gets_the_verified_column(tmp_path, capsys):
    path = tmp_path / "old.sqlite"
    con = sqlite3.connect(path)
    con.executescript(OLD_SCHEMA)
    con.execute("INSERT INTO submissions (submitter, model, link, kind, file_sha256, letters, scores, status, "
                "created) VALUES ('old', 'Old-VL', 'https://x.org', 'predictions', 'f', '{}', '{}', 'published', 1)")
    con.commit()
    con.close()
    store = SQLiteStore(path)
    assert [(r.model, r.verified) for r in store.rows()] == [("Old-VL", False)]
    assert main(["leaderboard", "admin", "verify", "1", "--db", str(path)]) == 0
    assert SQLiteStore(path).rows()[0].verified  # opening again migrates nothing twice
    columns = [r[1] for r in sqlite3.connect(path).execute("PRAGMA table_info(submissions)")]
    assert columns.count("verified") == 1


def test_serving_options_parse_as_before():
    from scale_vqa.cli import build_parser

    args = build_parser().parse_args(["leaderboard", "--key", "k.json", "--db", "x.sqlite", "--port", "9000"])
    assert (args.key, args.db, args.port, args.run.__name__) == ("k.json", "x.sqlite", 9000, "run_leaderboard")
    args = build_parser().parse_args(["leaderboard", "admin", "list", "--db", "x.sqlite"])
    assert args.run.__name__ == "run_admin"
