"""Submitter and model names: NFKC, no invisible or direction-changing characters, a length limit, no reserved
markers, and no name that imitates a published model, another model or another submitter."""

from __future__ import annotations

import json

import pytest

from leaderboard_app.names import NameRefused, imitated, normalise, reserved_marker, skeleton
from leaderboard_app.service import submit
from leaderboard_app.store import SQLiteStore
from leaderboard_app.submission import SubmissionError
from tests.helpers.items import make_key

KEY = make_key(4)
LINK = "https://huggingface.co/org/model"


def answers(shift: int) -> bytes:
    """A full answer set; different shifts differ on every item (no probing or copy rule applies)."""
    return "".join(json.dumps({"id": it.id, "prediction": it.letters[(i + shift) % len(it.letters)]}) + "\n"
                   for i, it in enumerate(KEY)).encode()


@pytest.fixture
def store(tmp_path):
    s = SQLiteStore(tmp_path / "lb.sqlite")
    submit(s, KEY, answers(0), submitter="alice", model="Alice-VL-7B", link=LINK, now=1000)
    return s


def refused(store, *, submitter="zoe", model="Zoe-Model", shift=1) -> str:
    with pytest.raises(SubmissionError) as err:
        submit(store, KEY, answers(shift), submitter=submitter, model=model, link=LINK, now=2000)
    return str(err.value)


@pytest.mark.parametrize(("name", "message"), [
    ("alice\u200b", "U+200B (ZERO WIDTH SPACE) at character 6"),
    ("bob\u202egnp.exe", "U+202E (RIGHT-TO-LEFT OVERRIDE)"),
    ("\u2066carl\u2069", "U+2066"),
    ("dave\u2060", "U+2060"),
    ("\ufeffeve", "U+FEFF"),
    ("fr\u200dank", "U+200D"),
    ("gil\x07", "control character"),
    ("hal\u2028x", "line separator"),
    ("x" * 200_000, "at most 100 characters"),
    ("y" * 101, "at most 100 characters"),
])
def test_invisible_control_and_overlong_submitter_names_are_refused(store, name, message):
    text = refused(store, submitter=name)
    assert "submitter name" in text and message in text, text


@pytest.mark.parametrize(("model", "message"), [
    ("Model\u202e1", "RIGHT-TO-LEFT OVERRIDE"),
    ("Mo\u200bdel", "ZERO WIDTH SPACE"),
    ("m" * 81, "at most 80 characters"),
])
def test_invisible_and_overlong_model_names_are_refused(store, model, message):
    text = refused(store, model=model)
    assert "model name" in text and message in text, text


@pytest.mark.parametrize(("model", "imitates"), [
    ("ScaleR\u0435asoner-R1", "ScaleReasoner-R1"),  # Cyrillic e
    ("\u0421LOVER", "CLOVER"),  # Cyrillic Es
    ("Patho-R\u0399", "Patho-R1"),  # Greek capital iota for the digit one
    ("gpt 5.2", "GPT-5.2"),
    ("ALICE-VL-7B", "Alice-VL-7B"),  # another submitter's model
])
def test_names_imitating_a_published_or_stored_model_are_refused(store, model, imitates):
    text = refused(store, model=model)
    assert f"looks like {imitates!r}" in text, text


@pytest.mark.parametrize("submitter", ["Alice", "ALICE", "\u0430lice", "al ice", "a.l.i.c.e"])
def test_names_imitating_another_submitter_are_refused(store, submitter):
    text = refused(store, submitter=submitter)
    assert "looks like the existing submitter 'alice'" in text, text


@pytest.mark.parametrize("submitter", ["Phan et al. (official)", "phan-et-al", "Official Scale-VQA", "0fficial",
                                       "the verified team"])
def test_reserved_markers_in_a_submitter_name_are_refused(store, submitter):
    assert "reserved marker" in refused(store, submitter=submitter)


def test_the_same_names_again_and_a_published_model_by_its_exact_name_are_accepted(store):
    again = submit(store, KEY, answers(1), submitter="alice", model="Alice-VL-7B", link=LINK, variant="blind",
                   now=1001)
    assert again.decision.action == "publish"
    # reproducing a published model under its exact name is fine; only look-alikes are refused
    other = submit(store, KEY, answers(2), submitter="bob", model="ScaleReasoner-R1", link=LINK, now=1002)
    assert other.decision.action == "publish"


def test_names_are_stored_nfkc_normalised(store):
    out = submit(store, KEY, answers(3), submitter="\uff4b\uff49\uff4d  lee", model="Kim\u2002Model\u00a0\u2162",
                 link=LINK, now=1003)
    assert (out.row.submitter, out.row.model) == ("kim lee", "Kim Model III")
    again = submit(store, KEY, answers(3), submitter="kim lee", model="Kim Model III", link=LINK, now=1004)
    assert again.decision.action == "duplicate" and again.row.id == out.row.id


def test_refusals_store_nothing(store):
    before = store.rows(statuses=("published", "held", "retracted"))
    for name in ("alice\u200b", "Alice", "Phan et al. (official)", "x" * 200_000):
        refused(store, submitter=name)
    assert store.rows(statuses=("published", "held", "retracted")) == before


def test_skeleton_and_helpers():
    assert skeleton("GPT-5.2") == skeleton("gpt 5 2") == skeleton("G\u0420T-5.2")
    assert skeleton("Qwen2.5-VL-7B") != skeleton("Qwen2.5-VL-72B")
    assert imitated("Qwen", ["Qwen"]) is None and imitated("qwen", ["Qwen"]) == "Qwen"
    assert imitated("qwen", ["Qwen"], own=["qwen"]) is None
    assert reserved_marker("Phan et al.") == "phanetal" and reserved_marker("Dana Phan") is None
    assert normalise("  a \t b  ".replace("\t", " "), what="x") == "a b"
    with pytest.raises(NameRefused, match=r"x: U\+0009"):
        normalise("a\tb", what="x")


def test_two_look_alike_names_submitted_at_once_cannot_both_pass(store, monkeypatch):
    """The look-alike check runs again inside the write transaction: a look-alike stored while this submission
    was being scored (after its early check) still refuses it."""
    import leaderboard_app.service as service

    real = service.parse_submission
    raced = []

    def parse_while_another_lands(*args, **kwargs):
        if not raced:
            raced.append(True)
            submit(store, KEY, answers(2), submitter="Mallory", model="Twin-VL", link=LINK, now=1002)
        return real(*args, **kwargs)

    monkeypatch.setattr(service, "parse_submission", parse_while_another_lands)
    with pytest.raises(SubmissionError, match="looks like the existing submitter 'Mallory'"):
        submit(store, KEY, answers(3), submitter="MaIIory", model="Twin-VL2", link=LINK, now=1003)
    assert {r.submitter for r in store.rows()} == {"alice", "Mallory"}


def test_an_identical_retry_is_answered_before_any_name_check(store, monkeypatch):
    """A retry of a stored file returns its row without reading the stored names (cheap), even when a name
    published since would now refuse the model's name."""
    first = next(r for r in store.rows() if r.submitter == "alice")
    monkeypatch.setattr(store, "names", lambda: pytest.fail("the names were read for an identical retry"))
    again = submit(store, KEY, answers(0), submitter="alice", model="Alice-VL-7B", link=LINK, now=1005,
                   protected=["AIice-VL-7B"])
    assert again.decision.action == "duplicate" and again.row.id == first.id
