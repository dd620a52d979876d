"""The threat model: a public key gives self-reported rows with exact scores; a private key (the default) refuses
unanswered items, padding and near-copies of anyone's answers, discloses Ladder-rounded scores only, marks typed
names unverified and limits new typed names server-wide."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import random
import sqlite3

import pytest

from leaderboard_app.app import intro
from leaderboard_app.rules import Policy
from leaderboard_app.service import submit
from leaderboard_app.store import SQLiteStore
from leaderboard_app.submission import SubmissionError
from leaderboard_app.table import HEADERS, build_table, display_rows, to_csv
from scale_vqa.cli import main
from scale_vqa.release import write_release
from tests.helpers.items import make_key

_rng = random.Random(4)
KEY = [dataclasses.replace(it, answer=_rng.choice(it.letters)) for it in make_key(40)]  # 200 items
LINK = "https://huggingface.co/org/model"
PUBLIC = Policy(private=False)


def answers(accuracy: float, seed: int, *, skip: int = 0) -> bytes:
    """A model right on about `accuracy` of the items (wrong ones spread over the other letters); the first `skip`
    items null."""
    rng = random.Random(seed)
    rows = []
    for n, it in enumerate(KEY):
        letter = it.answer if rng.random() < accuracy else rng.choice([x for x in it.letters if x != it.answer])
        rows.append({"id": it.id, "prediction": None if n < skip else letter})
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def test_cli_public_key_flag_reaches_the_server(tmp_path, monkeypatch):
    pytest.importorskip("gradio")
    import leaderboard_app.app as app

    key = tmp_path / "test.json"
    write_release(KEY, key)
    seen = {}
    monkeypatch.setattr(app, "serve", lambda *a, **kw: seen.update(kw))
    assert main(["leaderboard", "--key", str(key), "--public-key"]) == 0
    assert seen["public_key"] is True
    assert main(["leaderboard", "--key", str(key)]) == 0
    assert seen["public_key"] is False  # private is the default


def test_page_intro_explains_self_reported_private_and_verified():
    private, public = intro(Policy()), intro(PUBLIC)
    assert "Private key" in private and "Ladder" in private and "no significant improvement" in private
    assert "unverified" in private and "20 per hour" in private.replace("\n", " ") and "verified" in private
    assert "self-reported" in public and "Private key" not in public and "reproduced by a maintainer" in public


def test_public_key_rows_are_self_reported_with_exact_scores(tmp_path):
    store = SQLiteStore(tmp_path / "lb.sqlite")
    out = submit(store, KEY, answers(0.6, 1, skip=3), submitter="ann", model="Ann-VL", link=LINK, policy=PUBLIC)
    assert out.shown["self_reported"] and out.shown["macro"] == out.row.scores["macro"]["acc"]
    table = build_table(store.rows(), KEY, private=False)
    assert table[0].self_reported and table[0].macro == out.row.scores["macro"]["acc"]
    assert display_rows(table)[0][HEADERS.index("Source")] == "measured · self-reported"
    record = next(csv.DictReader(io.StringIO(to_csv(table))))
    assert record["self_reported"] == "True" and record["identity"] == "typed"


def test_private_key_refuses_unanswered_items_naming_them(tmp_path):
    store = SQLiteStore(tmp_path / "lb.sqlite")
    with pytest.raises(SubmissionError, match="3 item") as err:
        submit(store, KEY, answers(0.6, 1, skip=3), submitter="ann", model="Ann-VL", link=LINK)
    assert KEY[0].id in err.value.problems[0] and "no answer" in err.value.problems[0]
    assert store.rows(statuses=("published", "held", "retracted")) == []


def test_private_key_table_and_exports_show_only_the_disclosed_numbers(tmp_path):
    store = SQLiteStore(tmp_path / "lb.sqlite")
    out = submit(store, KEY, answers(0.62, 2), submitter="ann", model="Ann-VL", link=LINK)
    exact = out.row.scores["macro"]["acc"]
    assert out.shown["shown"] and out.shown["macro"] == round(exact, 2) != exact
    oauth = submit(store, KEY, answers(0.7, 3), submitter="bo", model="Bo-VL", link=LINK, identity="oauth")
    table = build_table(store.rows(), KEY, private=True)
    assert [r.macro for r in table] == [oauth.shown["macro"], out.shown["macro"]]
    assert not any(r.tied_with_above for r in table) and all(r.dim_cis is None for r in table)
    record = list(csv.DictReader(io.StringIO(to_csv(table))))
    assert [float(r["macro"]) for r in record] == [oauth.shown["macro"], out.shown["macro"]]
    assert str(exact) not in to_csv(table)
    cells = display_rows(table)
    who = HEADERS.index("Submitter")
    assert "typed name, unverified" in cells[1][who] and "unverified" not in cells[0][who]


def test_private_key_refuses_near_copies_of_anyones_answers_and_padding(tmp_path):
    store = SQLiteStore(tmp_path / "lb.sqlite")
    base = answers(0.6, 5)
    submit(store, KEY, base, submitter="ann", model="Ann-VL", link=LINK)
    rows = [json.loads(line) for line in base.decode().splitlines()]
    for r, it in zip(rows[:4], KEY, strict=False):
        r["prediction"] = next(x for x in it.letters if x != r["prediction"])
    near = "".join(json.dumps(r) + "\n" for r in rows).encode()
    with pytest.raises(SubmissionError, match="only 4 answer"):
        submit(store, KEY, near, submitter="eve", model="Eve-VL", link=LINK)
    padded = "".join(json.dumps({"id": it.id, "prediction": "A" if n > 20 else it.answer}) + "\n"
                     for n, it in enumerate(KEY)).encode()
    with pytest.raises(SubmissionError, match="mostly one letter"):
        submit(store, KEY, padded, submitter="eve", model="Eve-VL", link=LINK)
    # the same near copy is fine under a public key (nothing hidden to probe)
    assert submit(store, KEY, near, submitter="eve", model="Eve-VL", link=LINK, policy=PUBLIC).row is not None


def test_new_typed_names_are_limited_server_wide(tmp_path):
    store = SQLiteStore(tmp_path / "lb.sqlite")
    policy = Policy(new_names_per_hour=2)
    for n in range(2):
        submit(store, KEY, answers(0.6, 10 + n), submitter=f"n{n}", model=f"M{n}", link=LINK, policy=policy,
               now=1000 + n)
    with pytest.raises(SubmissionError, match="new typed names per hour"):
        submit(store, KEY, answers(0.6, 20), submitter="n2", model="M2", link=LINK, policy=policy, now=1100)
    # a known name, a signed-in account, and a new name an hour later are all fine
    submit(store, KEY, answers(0.7, 21), submitter="n0", model="M0b", link=LINK, policy=policy, now=1101)
    submit(store, KEY, answers(0.6, 22), submitter="acct", model="M3", link=LINK, policy=policy, now=1102,
           identity="oauth")
    submit(store, KEY, answers(0.6, 23), submitter="n2", model="M2", link=LINK, policy=policy, now=1100 + 3600)


def test_a_blind_run_equal_to_the_standard_run_is_accepted_under_a_private_key(tmp_path):
    store = SQLiteStore(tmp_path / "lb.sqlite")
    data = answers(0.6, 30)
    submit(store, KEY, data, submitter="ann", model="Ann-VL", link=LINK)
    blind = submit(store, KEY, data + b"\n", submitter="ann", model="Ann-VL", link=LINK, variant="blind")
    assert blind.decision.action == "publish" and blind.shown["shown"]
    row = build_table(store.rows(), KEY, private=True)[0]
    assert row.image_gain == 0.0 and row.blind == row.macro


def test_a_database_from_before_gets_the_new_columns_and_its_rows_are_rounded(tmp_path):
    db = tmp_path / "old.sqlite"
    store = SQLiteStore(db)
    out = submit(store, KEY, answers(0.62, 2), submitter="ann", model="Ann-VL", link=LINK, policy=PUBLIC)
    con = sqlite3.connect(db)
    con.execute("ALTER TABLE submissions DROP COLUMN disclosed")
    con.execute("ALTER TABLE submissions DROP COLUMN identity")
    con.commit()
    con.close()
    row = SQLiteStore(db).rows()[0]
    assert row.identity == "typed" and row.disclosed is None
    assert build_table([row], KEY, private=True)[0].macro == round(out.row.scores["macro"]["acc"], 2)
