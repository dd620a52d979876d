"""Predictions JSONL: reading, writing, and clear errors."""

from __future__ import annotations

import json

import pytest

from scale_vqa.predictions import Prediction, load_predictions, read_predictions, write_predictions
from scale_vqa.problems import InputError


def test_round_trip(tmp_path) -> None:
    preds = {"a": Prediction.of_letter("B"), "b": Prediction.of_output("<answer>C</answer>"),
             "c": Prediction(letter="D", output="<answer>D"), "d": Prediction.of_letter(None)}
    path = tmp_path / "p.jsonl"
    write_predictions(preds, path, dimension={"a": "type_A"})
    assert load_predictions(path) == preds
    first = json.loads(path.read_text().splitlines()[0])
    assert first == {"id": "a", "prediction": "B", "dimension": "type_A"}
    assert not list(tmp_path.glob(".p.jsonl.*"))  # no temporary file left behind


def test_lowercase_letters_and_blank_lines(tmp_path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text('{"id": "a", "prediction": "b"}\n\n{"id": "b", "output": "x", "model": "m"}\n')
    preds, report = read_predictions(path)
    assert report.ok
    assert preds == {"a": Prediction.of_letter("B"), "b": Prediction.of_output("x")}


@pytest.mark.parametrize(("line", "field", "fragment"), [
    ("not json", None, "invalid JSON"),
    ('["a", "B"]', None, "expected an object"),
    ('{"prediction": "B"}', "id", "missing"),
    ('{"id": 7, "prediction": "B"}', "id", "non-empty string"),
    ('{"id": "x"}', None, 'needs a "prediction"'),
    ('{"id": "x", "prediction": "AB"}', "prediction", "not an option letter"),
    ('{"id": "x", "prediction": 2}', "prediction", "expected an option letter"),
    ('{"id": "x", "output": ["B"]}', "output", "expected a string"),
    ('{"id": "first", "prediction": "A"}', "id", "duplicate id"),
])
def test_bad_lines_are_reported_with_line_and_field(tmp_path, line: str, field: str | None, fragment: str) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text('{"id": "first", "prediction": "A"}\n' + line + "\n")
    preds, report = read_predictions(path)
    assert not report.ok
    (problem,) = report.errors
    assert problem.line == 2 and problem.field == field and problem.file == str(path)
    assert fragment in problem.message
    assert "first" in preds
    with pytest.raises(InputError, match=r"p\.jsonl:2"):
        load_predictions(path)


@pytest.mark.parametrize("content", [b"", b"\n\n", b"\xff\xfe\x00\x01", b"\x80abc"])
def test_unreadable_files(tmp_path, content: bytes) -> None:
    path = tmp_path / "p.jsonl"
    path.write_bytes(content)
    _, report = read_predictions(path)
    assert not report.ok


def test_missing_file(tmp_path) -> None:
    _, report = read_predictions(tmp_path / "nope.jsonl")
    assert "not found" in report.errors[0].message
