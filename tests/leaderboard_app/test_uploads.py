"""Uploads that used to cost, crash or mislead: many bad lines, deep nesting, line separators inside lm-eval
generations, UTF-16, duplicate keys, a prediction that contradicts its own output."""

from __future__ import annotations

import json

import pytest

import scale_vqa.jsonfile
import scale_vqa.predictions
import scale_vqa.samples
from leaderboard_app.submission import MAX_ERRORS, SubmissionError, parse_submission
from scale_vqa.problems import Problem
from tests.helpers.items import make_key

KEY = make_key(4)  # 20 items, 4 options each
SEPARATORS = "\u2028\u2029\u0085\x1c\x1d\x1e\r"
"""Characters `str.splitlines` splits at; lm-eval leaves some of them raw inside generations."""


def jsonl(rows) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def good_rows() -> list[dict]:
    return [{"id": it.id, "prediction": it.answer} for it in KEY]


def refused(data: bytes) -> SubmissionError:
    with pytest.raises(SubmissionError) as err:
        parse_submission(data, KEY)
    return err.value


def raw_line(obj: dict) -> str:
    """`obj` as one JSON line with the separators left raw inside its strings (json.dumps escapes the control
    characters among them; some writers do not)."""
    line = json.dumps(obj, ensure_ascii=False)
    for char in "\x1c\x1d\x1e":
        line = line.replace(f"\\u{ord(char):04x}", char)
    return line.replace("\\r", "\r")


@pytest.mark.parametrize("bad_line", [b"x\n", b"42\n", b'{"id": "q", "prediction": "Z"}\n'])
def test_a_large_upload_of_bad_lines_stops_after_the_first_errors(monkeypatch, bad_line: bytes) -> None:
    made = []

    class Counted(Problem):
        def __init__(self, *args, **kwargs) -> None:
            made.append(1)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(scale_vqa.jsonfile, "Problem", Counted)
    monkeypatch.setattr(scale_vqa.predictions, "Problem", Counted)
    err = refused(bad_line * 200_000)
    assert len(made) <= MAX_ERRORS + 1
    assert len(err.problems) == MAX_ERRORS and err.more == 0
    assert "reading stopped" in err.summary and "not checked" in err.summary
    assert err.problems[0].startswith("line 1:") and err.problems[-1].startswith(f"line {MAX_ERRORS}:")


def test_a_large_samples_log_of_bad_lines_stops_after_the_first_errors(monkeypatch) -> None:
    read = []
    real = scale_vqa.samples.sample_from
    monkeypatch.setattr(scale_vqa.samples, "sample_from", lambda obj, line=0: read.append(1) or real(obj, line))
    line = json.dumps({"doc": {}, "resps": [["<answer>A</answer>"]]}).encode() + b"\n"
    err = refused(line * 100_000)
    assert len(read) <= MAX_ERRORS + 1  # + the kind check of the first line
    assert "reading stopped" in err.summary and err.more == 0
    assert all("doc.id missing" in p for p in err.problems)


def test_lists_of_ids_are_capped_and_counted() -> None:
    rows = [*good_rows(), *({"id": f"test-9{i:04d}", "prediction": "A"} for i in range(500))]
    err = refused(jsonl(rows))
    assert "500 id(s) are not in the answer key" in err.summary
    assert len(err.problems) == MAX_ERRORS and err.more == 500 - MAX_ERRORS


@pytest.mark.parametrize("data", [
    b'{"a":' * 200_000 + b"\n",
    b'{"id": "x", "prediction": "A", "deep": ' + b"[" * 200_000 + b"\n",
    jsonl(good_rows()[:1]) + b"[" * 200_000 + b"]" * 200_000 + b"\n",
])
def test_deep_nesting_is_one_clear_error_never_a_traceback(data: bytes) -> None:
    err = refused(data)
    assert len(err.problems) == 1 and "nested" in err.problems[0], str(err)


def test_deep_nesting_in_a_samples_log_is_one_clear_error() -> None:
    first = {"doc": {"id": KEY[0].id}, "resps": [["<answer>A</answer>"]]}
    err = refused(jsonl([first]) + b"[" * 100_000 + b"\n")
    assert err.problems == ["line 2: not valid JSON (nested more than 64 levels deep)"]


def test_lm_eval_generations_with_line_separators_are_read() -> None:
    text = "".join(raw_line({"doc": {"id": it.id}, "resps": [[f"a{SEPARATORS}b <answer>{it.answer}</answer>"]],
                             "filtered_resps": [f"a{SEPARATORS}b <answer>{it.answer}</answer>"]}) + "\n"
                   for it in KEY)
    sub = parse_submission(text.encode(), KEY)
    assert sub.kind == "lm-eval-samples"
    assert sub.letters(KEY) == {it.id: it.answer for it in KEY}
    assert all(SEPARATORS in p.output for p in sub.predictions.values())


def test_predictions_with_line_separators_in_outputs_are_read() -> None:
    text = "".join(raw_line({"id": it.id, "output": f"x{SEPARATORS}<answer>{it.answer}</answer>"}) + "\n"
                   for it in KEY)
    sub = parse_submission(text.encode(), KEY)
    assert sub.letters(KEY) == {it.id: it.answer for it in KEY}


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_gets_its_own_message(encoding: str) -> None:
    err = refused(jsonl(good_rows()).decode().encode(encoding))
    assert "UTF-16" in err.summary and "UTF-8" in err.summary and "binary" not in err.summary


def test_duplicate_keys_are_refused_naming_line_and_key() -> None:
    rows = jsonl(good_rows()[1:]) + f'{{"id": "{KEY[0].id}", "prediction": "A", "prediction": "B"}}\n'.encode()
    err = refused(rows)
    assert err.problems == [f"line {len(KEY)}: invalid JSON: duplicate key 'prediction' in one object"]


def test_duplicate_keys_in_a_samples_log_are_refused() -> None:
    first = {"doc": {"id": KEY[0].id}, "resps": [["<answer>A</answer>"]]}
    line = f'{{"doc": {{"id": "{KEY[1].id}", "id": "{KEY[2].id}"}}, "resps": [["<answer>A</answer>"]]}}\n'
    err = refused(jsonl([first]) + line.encode())
    assert err.problems == ["line 2: not valid JSON (duplicate key 'id' in one object)"]


def test_a_prediction_contradicting_its_output_is_named() -> None:
    rows = good_rows()
    wrong = next(letter for letter in KEY[2].letters if letter != KEY[2].answer)
    rows[2] = {"id": KEY[2].id, "prediction": KEY[2].answer, "output": f"<answer>{wrong}</answer>"}
    rows[5] = {"id": KEY[5].id, "prediction": KEY[5].answer, "output": "I cannot tell."}
    err = refused(jsonl(rows))
    assert "2 prediction(s) contradict their own output" in err.summary
    assert err.problems == [f"id {KEY[2].id!r}: prediction {KEY[2].answer} but the output reads as {wrong}",
                            f"id {KEY[5].id!r}: prediction {KEY[5].answer} but the output reads as no letter"]


def test_a_prediction_agreeing_with_its_output_is_accepted() -> None:
    rows = [{**row, "output": f"<think>x</think> <answer>{row['prediction']}</answer>"} for row in good_rows()]
    assert parse_submission(jsonl(rows), KEY).letters(KEY) == {it.id: it.answer for it in KEY}
