"""Leaderboard logic without a web server: upload validation (every kind of bad submission), anti-gaming rules,
the SQLite store under concurrency and after a killed writer."""

from __future__ import annotations

import gzip
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from leaderboard_app.rules import Policy
from leaderboard_app.service import submit
from leaderboard_app.store import SQLiteStore
from leaderboard_app.submission import SubmissionError, check_meta, parse_submission
from tests.helpers.items import REPO, make_key

KEY = make_key(4)  # 20 items, 4 options each
LINK = "https://huggingface.co/org/model"


def jsonl(rows) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def preds(letter_of=lambda i, it: it.answer, drop=()) -> list[dict]:
    return [{"id": it.id, "prediction": letter_of(i, it)} for i, it in enumerate(KEY) if it.id not in drop]


def sample(it, text, **doc) -> dict:
    return {"doc_id": 0, "doc": {"id": it.id, **doc}, "resps": [[text]], "filtered_resps": [text]}


GOOD = jsonl(preds())

BAD = {
    "empty": (b"", "empty"),
    "whitespace only": (b"  \n\n ", "empty"),
    "oversized": (b"x" * (9 * 2**20), "limit"),
    "binary NUL": (b"\x00\x01\x02" + GOOD, "binary"),
    "gzip": (gzip.compress(GOOD), "binary"),
    "png": (b"\x89PNG\r\n\x1a\n" + b"0" * 20, "binary"),
    "latin-1": (GOOD.replace(b"test-00001", b"test-0000\xe9"), "not UTF-8"),
    "json array": (json.dumps(preds()).encode(), "JSON array"),
    "lm-eval results": (json.dumps({"results": {"scale_vqa": {"acc,none": 0.8}}, "versions": {}}).encode(),
                        "aggregate scores only"),
    "broken json line": (GOOD + b'{"id": "x", \n', "line 21: invalid JSON"),
    "line not an object": (GOOD + b"42\n", "expected an object"),
    "missing id": (jsonl([*preds()[1:], {"prediction": "A"}]), "id: missing"),
    "id not a string": (jsonl([*preds()[1:], {"id": 5, "prediction": "A"}]), "non-empty string"),
    "no prediction or output": (jsonl([*preds()[1:], {"id": KEY[0].id}]), "needs a \"prediction\""),
    "prediction not a letter": (jsonl([{"id": KEY[0].id, "prediction": "AB"}, *preds()[1:]]), "not an option"),
    "prediction a number": (jsonl([{"id": KEY[0].id, "prediction": 1}, *preds()[1:]]), "option letter or null"),
    "output a list": (jsonl([{"id": KEY[0].id, "output": ["B"]}, *preds()[1:]]), "expected a string"),
    "duplicate id": (jsonl([*preds(), preds()[0]]), "duplicate id"),
    "unknown id": (jsonl([*preds(), {"id": "val-99999", "prediction": "A"}]), "not in the answer key"),
    "missing items": (jsonl(preds(drop={KEY[3].id, KEY[7].id})), "2 of 20 items have no prediction"),
    "letter out of range": (jsonl([{"id": KEY[0].id, "prediction": "F"}, *preds()[1:]]), "does not have"),
    "lone surrogate": (jsonl([{"id": KEY[0].id, "output": "\ud800"}, *preds()[1:]]), "surrogate"),
    "sample without doc id": (jsonl([{"doc": {}, "resps": [["<answer>A</answer>"]]}]), "doc.id missing"),
    "sample without text": (jsonl([{"doc": {"id": KEY[0].id}, "resps": [[]], "filtered_resps": []}]),
                            "no generated text"),
    "sample duplicate": (jsonl([sample(KEY[0], "<answer>A</answer>")] * 2), "duplicate id"),
    "samples mixed with predictions": (jsonl([sample(KEY[0], "<answer>A</answer>"), *preds()[1:]]),
                                       "not an lm-eval sample"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_submission_is_refused_with_a_reason(name):
    data, message = BAD[name]
    with pytest.raises(SubmissionError) as err:
        parse_submission(data, KEY)
    assert message in str(err.value), str(err.value)


def test_error_lists_are_capped_and_carry_line_numbers():
    data = jsonl([{"id": it.id, "prediction": "Z"} for it in make_key(10)])
    with pytest.raises(SubmissionError) as err:
        parse_submission(data, make_key(10))
    text = str(err.value)
    assert "line 1:" in text and "line 20:" in text and "line 21:" not in text and "… and" not in text
    assert "reading stopped" in text  # the 30 lines after the first 20 errors are not read


@pytest.mark.parametrize(("model", "link", "paper", "message"), [
    ("<script>alert(1)</script>", LINK, "", "no HTML"),
    ("../../etc/passwd", LINK, "", "slashes"),
    ("m", LINK, "", "2–80"),
    ("x" * 81, LINK, "", "2–80"),
    ("ok model", "javascript:alert(1)", "", "http(s) URL"),
    ("ok model", "", "", "http(s) URL"),
    ("ok model", LINK, "not a paper", "arXiv id"),
    ("bad\x07name", LINK, "", "control"),
])
def test_bad_model_details(model, link, paper, message):
    with pytest.raises(SubmissionError, match=re.escape(message)):
        check_meta(model, link, paper)


def test_good_uploads():
    sub = parse_submission(GOOD, KEY)
    assert sub.kind == "predictions" and len(sub.predictions) == 20
    assert sub.letters(KEY) == {it.id: it.answer for it in KEY}
    samples = jsonl([sample(it, f"<think>x</think> <answer>{it.answer}") for it in KEY])
    sub = parse_submission(samples, KEY)
    assert sub.kind == "lm-eval-samples" and sub.letters(KEY) == {it.id: it.answer for it in KEY}
    with_bom = b"\xef\xbb\xbf" + GOOD
    assert parse_submission(with_bom, KEY).kind == "predictions"
    assert check_meta(" Qwen2.5-VL-7B ", LINK, "arXiv:2606.17412").model == "Qwen2.5-VL-7B"


def test_samples_are_rescored_from_raw_text_with_the_core_parser(tmp_path):
    store = SQLiteStore(tmp_path / "lb.sqlite")
    rows = [sample(it, f"<think>x</think> <answer>{it.answer}</answer>" if i % 2 else "The answer is probably B.")
            for i, it in enumerate(KEY)]
    # half the outputs name no option: a public key's rules (a private key wants every item answered)
    out = submit(store, KEY, jsonl(rows), submitter="alice", model="m1", link=LINK, policy=Policy(private=False))
    scores = out.row.scores
    assert scores["format_rate"] == 0.5
    assert out.report.strict_micro.correct == 10


def test_store_flow_idempotency_quota_probing_and_copies(tmp_path):
    store = SQLiteStore(tmp_path / "lb.sqlite")
    policy = Policy(quota=3, probe_max_changes=2, private=False)  # one-letter answer sets: a public key's rules
    first = submit(store, KEY, GOOD, submitter="alice", model="m1", link=LINK, policy=policy, now=1000)
    assert first.decision.action == "publish" and first.row.scores["macro"]["acc"] == 1.0
    again = submit(store, KEY, GOOD, submitter="alice", model="m1", link=LINK, policy=policy, now=1001)
    assert again.decision.action == "duplicate" and again.row.id == first.row.id
    probe = jsonl(preds(lambda i, it: "ABCD"[(it.letters.index(it.answer) + 1) % 4] if i < 2 else it.answer))
    with pytest.raises(SubmissionError, match="probe the hidden answers"):
        submit(store, KEY, probe, submitter="alice", model="m2", link=LINK, policy=policy, now=1002)
    other = jsonl(preds(lambda i, it: "A"))
    copy = submit(store, KEY, GOOD + b"\n", submitter="bob", model="bob-model", link=LINK, policy=policy, now=1003)
    assert copy.decision.action == "hold" and copy.row.status == "held"
    assert submit(store, KEY, other, submitter="alice", model="m3", link=LINK, policy=policy,
                  now=1004).decision.action == "publish"
    third = jsonl(preds(lambda i, it: "B"))
    submit(store, KEY, third, submitter="alice", model="m4", link=LINK, policy=policy, now=1005)
    with pytest.raises(SubmissionError, match="quota"):
        submit(store, KEY, jsonl(preds(lambda i, it: "C")), submitter="alice", model="m5", link=LINK,
               policy=policy, now=1006)
    assert submit(store, KEY, jsonl(preds(lambda i, it: "C")), submitter="alice", model="m5", link=LINK,
                  policy=policy, now=1006 + 24 * 3600).decision.action == "publish"
    assert [r.model for r in store.rows()] == ["m1", "m3", "m4", "m5"]
    assert store.submission_counts() == {"alice": 4, "bob": 1}
    store.retract(first.row.id, "withdrawn by submitter")
    assert [r.model for r in store.rows()] == ["m3", "m4", "m5"]
    assert store.submission_counts()["alice"] == 4
    assert [r.status for r in store.rows(statuses=("retracted",))] == ["retracted"]
    with pytest.raises(KeyError):
        store.retract(999, "x")


def test_each_submission_is_logged_once_without_the_upload_or_key(tmp_path, caplog):
    import logging

    caplog.set_level(logging.INFO, logger="leaderboard_app")
    store = SQLiteStore(tmp_path / "lb.sqlite")
    submit(store, KEY, GOOD, submitter="alice", model="m1", link=LINK)
    submit(store, KEY, GOOD, submitter="alice", model="m1", link=LINK)
    with pytest.raises(SubmissionError):
        submit(store, KEY, jsonl([{"id": "nope", "prediction": "A"}]), submitter="bob", model="m2", link=LINK,
               variant="blind")
    assert [(r.name, r.levelname) for r in caplog.records] == [("leaderboard_app", "INFO")] * 3
    assert [r.getMessage() for r in caplog.records] == [
        "submission: submitter='alice' model='m1' variant='standard' decision=publish row=#1",
        "submission: submitter='alice' model='m1' variant='standard' decision=duplicate row=#1 "
        "(this file was already submitted for this model)",
        "submission: submitter='bob' model='m2' variant='blind' decision=rejected row=- "
        "(1 id(s) are not in the answer key (wrong split or id scheme?))"]
    assert not any(it.id in caplog.text or it.question in caplog.text for it in KEY) and "nope" not in caplog.text


def test_rejections_store_nothing(tmp_path):
    store = SQLiteStore(tmp_path / "lb.sqlite")
    for data, _ in BAD.values():
        with pytest.raises(SubmissionError):
            submit(store, KEY, data, submitter="eve", model="m1", link=LINK)
    with pytest.raises(SubmissionError, match="sign in"):
        submit(store, KEY, GOOD, submitter=" ", model="m1", link=LINK)
    assert store.rows(statuses=("published", "held", "retracted")) == []


def test_concurrent_submissions_lose_nothing_and_store_one_row_per_retry(tmp_path):
    store = SQLiteStore(tmp_path / "lb.sqlite")
    key = make_key(20)  # 100 items
    errors: list[BaseException] = []

    def one(n: int) -> None:
        try:
            data = jsonl({"id": it.id, "prediction": "ABCD"[(i * (n + 3)) % 4]} for i, it in enumerate(key))
            submit(store, key, data, submitter=f"user{n}", model=f"model-{n}", link=LINK,
                   policy=Policy(probe_max_changes=0, probe_max_share=0, private=False))
            # an identical retry of user 0's upload, from many threads at once
            submit(store, key, jsonl({"id": it.id, "prediction": "A"} for it in key), submitter="retry",
                   model="same", link=LINK, policy=Policy(private=False))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    rows = store.rows(statuses=("published", "held"))
    assert sum(r.submitter.startswith("user") for r in rows) == 50
    assert sum(r.submitter == "retry" for r in rows) == 1
    assert store.integrity_ok()


def test_database_survives_a_writer_killed_mid_write(tmp_path):
    db = tmp_path / "lb.sqlite"
    script = textwrap.dedent(f"""
        import sys, json
        sys.path[:0] = [{str(REPO)!r}, {str(REPO / 'tests')!r}]
        from tests.helpers.items import make_key
        from leaderboard_app.store import SQLiteStore
        from leaderboard_app.rules import Decision
        store = SQLiteStore({str(db)!r})
        key = make_key(200)
        n = 0
        while True:
            n += 1
            entry = {{"submitter": f"u{{n}}", "model": "m", "link": "https://x.org", "kind": "predictions",
                      "file_sha256": str(n), "letters": {{it.id: "A" for it in key}}, "scores": {{"n": n}}}}
            store.submit(entry, lambda earlier: Decision("publish"))
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], env=os.environ.copy())
    deadline = time.monotonic() + 60
    count = 0
    while time.monotonic() < deadline and count < 20:
        time.sleep(0.2)
        if db.exists():
            try:
                count = sqlite3.connect(db, timeout=5).execute("SELECT COUNT(*) FROM submissions").fetchone()[0]
            except sqlite3.OperationalError:
                count = 0
    assert proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    store = SQLiteStore(db)
    assert store.integrity_ok()
    rows = store.rows()
    assert len(rows) >= 20 and all(len(r.letters) == 1000 for r in rows)
