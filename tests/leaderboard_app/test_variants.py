"""Variants: the anti-gaming rules compare a model's answers within one variant, so a blind run (no images) that
answers exactly like the standard run is accepted and shows an image gain of 0."""

from __future__ import annotations

import json

import pytest

from leaderboard_app.rules import Earlier, decide
from leaderboard_app.service import submit
from leaderboard_app.store import SQLiteStore
from leaderboard_app.submission import SubmissionError
from leaderboard_app.table import HEADERS, build_table, display_rows, to_csv
from tests.helpers.items import make_key

KEY = make_key(4)
LINK = "https://huggingface.co/org/model"


def jsonl(letter_of) -> bytes:
    rows = ({"id": it.id, "prediction": letter_of(i, it)} for i, it in enumerate(KEY))
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def test_blind_run_equal_to_the_standard_run_is_published_with_zero_image_gain(tmp_path):
    store = SQLiteStore(tmp_path / "lb.sqlite")
    data = jsonl(lambda i, it: it.answer if i % 3 else "A")
    std = submit(store, KEY, data, submitter="alice", model="Blindish-7B", link=LINK, now=1000)
    blind = submit(store, KEY, data, submitter="alice", model="Blindish-7B", link=LINK, variant="blind", now=1001)
    assert (std.decision.action, blind.decision.action) == ("publish", "publish")
    table = build_table(store.rows(), KEY)
    row = next(r for r in table if r.model == "Blindish-7B")
    assert row.blind == row.macro and row.image_gain == 0.0
    cells = display_rows(table)[table.index(row)]
    assert cells[HEADERS.index("Image gain")] == "0.0 [+0.0, +0.0] · CI includes 0"
    assert cells[HEADERS.index("Blind")] != "–"
    assert ",0.0," in to_csv(table).splitlines()[1]


def test_a_blind_run_with_fewer_right_answers_shows_a_positive_gain(tmp_path):
    store = SQLiteStore(tmp_path / "lb.sqlite")
    submit(store, KEY, jsonl(lambda i, it: it.answer), submitter="bob", model="Seer", link=LINK, now=1000)
    wrong = jsonl(lambda i, it: "ABCD"[(it.letters.index(it.answer) + 1) % 4] if i % 2 else it.answer)
    submit(store, KEY, wrong, submitter="bob", model="Seer", link=LINK, variant="blind", now=1001)
    row = next(r for r in build_table(store.rows(), KEY) if r.model == "Seer")
    assert row.image_gain == pytest.approx(row.macro - row.blind) and row.image_gain > 0
    assert display_rows([row])[0][HEADERS.index("Image gain")].startswith("+")


def test_probing_is_still_refused_within_a_variant(tmp_path):
    store = SQLiteStore(tmp_path / "lb.sqlite")
    base = jsonl(lambda i, it: it.answer)
    submit(store, KEY, base, submitter="carol", model="Mo", link=LINK, variant="blind", now=1000)
    probe = jsonl(lambda i, it: "ABCD"[(it.letters.index(it.answer) + 1) % 4] if i == 0 else it.answer)
    with pytest.raises(SubmissionError, match="probe the hidden answers"):
        submit(store, KEY, probe, submitter="carol", model="M2", link=LINK, variant="blind", now=1001)
    with pytest.raises(SubmissionError, match="identical"):
        submit(store, KEY, base + b"\n", submitter="carol", model="M3", link=LINK, variant="blind", now=1002)


def test_decide_ignores_rows_of_another_variant():
    letters = {it.id: it.answer for it in KEY}
    standard = Earlier(1, "dan", "M [standard]", "f1", letters, 0.0, "published", "standard")
    other = Earlier(2, "erin", "N [standard]", "f2", letters, 0.0, "published", "standard")
    assert decide("dan", "M [blind]", "f1", letters, [standard, other], 1.0, variant="blind").action == "publish"
    assert decide("dan", "M2 [standard]", "f3", letters, [standard], 1.0).action == "refuse"
    assert decide("fay", "K [standard]", "f4", letters, [standard], 1.0).action == "hold"
