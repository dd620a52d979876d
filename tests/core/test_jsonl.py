"""The core JSONL readers (predictions and lm-eval samples): lines end at ``\\n`` only, duplicate keys and deep
nesting are refused line by line, UTF-16 is named, and reading can stop after the first errors."""

from __future__ import annotations

import json

import pytest

from scale_vqa.jsonfile import MAX_DEPTH, DuplicateKeyError, iter_lines, loads_line, parse_jsonl
from scale_vqa.predictions import Prediction, parse_predictions, read_predictions
from scale_vqa.samples import read_samples

SEPARATORS = "\u2028\u2029\u0085\x1c\x1d\x1e\r"
"""Characters `str.splitlines` splits at."""


def raw(obj: dict) -> str:
    """One JSON line with the separators left raw inside its strings (as some writers leave them)."""
    line = json.dumps(obj, ensure_ascii=False)
    for char in "\x1c\x1d\x1e":
        line = line.replace(f"\\u{ord(char):04x}", char)
    return line.replace("\\r", "\r")


def test_lines_end_at_newline_only() -> None:
    text = f"a{SEPARATORS}b\n\n  \r\nc"
    assert list(iter_lines(text)) == [(1, f"a{SEPARATORS}b"), (4, "c")]


def test_predictions_with_separators_inside_outputs(tmp_path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(raw({"id": "a", "output": f"x{SEPARATORS}<answer>B</answer>"}) + "\n"
                    + raw({"id": "b", "prediction": "C"}) + "\r\n", encoding="utf-8", newline="")
    preds, report = read_predictions(path)
    assert report.ok, report.format()
    assert preds == {"a": Prediction.of_output(f"x{SEPARATORS}<answer>B</answer>"), "b": Prediction.of_letter("C")}


def test_samples_with_separators_inside_generations() -> None:
    text = "".join(raw({"doc": {"id": i}, "resps": [[f"{SEPARATORS}<answer>A</answer>"]]}) + "\n" for i in "ab")
    samples, problems = read_samples(text)
    assert problems == []
    assert [(s.id, s.output, s.line) for s in samples] == [(i, f"{SEPARATORS}<answer>A</answer>", n)
                                                            for n, i in enumerate("ab", 1)]


def test_nesting_depth_is_bounded() -> None:
    assert loads_line("[" * MAX_DEPTH + "]" * MAX_DEPTH)
    assert loads_line('["' + "[" * 500 + '"]') == ["[" * 500]  # brackets inside strings do not count
    with pytest.raises(ValueError, match=f"nested more than {MAX_DEPTH} levels deep"):
        loads_line("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))
    with pytest.raises(ValueError, match="nested"):
        loads_line('{"a":' * 100_000)


def test_deep_line_is_one_problem_with_its_line(tmp_path) -> None:
    path = tmp_path / "p.jsonl"
    deep = "[" * 100 + "]" * 100
    path.write_text(f'{{"id": "a", "prediction": "B"}}\n{{"id": "b", "prediction": "C", "x": {deep}}}\n')
    preds, report = read_predictions(path)
    (problem,) = report.errors
    assert problem.line == 2 and "nested more than" in problem.message
    assert list(preds) == ["a"]


def test_duplicate_keys_are_refused_with_line_and_key(tmp_path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text('{"id": "a", "prediction": "B"}\n{"id": "b", "prediction": "C", "prediction": "D"}\n')
    _, report = read_predictions(path)
    (problem,) = report.errors
    assert problem.line == 2 and "duplicate key 'prediction'" in problem.message
    with pytest.raises(DuplicateKeyError):
        loads_line('{"doc": {"id": "a", "id": "b"}}')
    _, problems = read_samples('{"doc": {"id": "a", "id": "b"}, "resps": [["x"]]}\n')
    assert problems == ["line 1: not valid JSON (duplicate key 'id' in one object)"]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_is_named(tmp_path, encoding: str) -> None:
    path = tmp_path / "p.jsonl"
    path.write_bytes('{"id": "a", "prediction": "B"}\n'.encode(encoding))
    _, report = read_predictions(path)
    (problem,) = report.errors
    assert "UTF-16" in problem.message and "binary" not in problem.message


def test_reading_stops_after_max_errors() -> None:
    text = "x\n" * 1000 + '{"id": "a", "prediction": "B"}\n'
    records, problems = parse_jsonl(text, "t", max_errors=5)
    assert records == [] and [p.line for p in problems] == [1, 2, 3, 4, 5]
    _, report = parse_predictions('{"id": "a", "prediction": "Z"}\n' * 1000, "t", max_errors=5)
    assert len(report.problems) == 5
    _, sample_problems = read_samples('{"doc": {}, "resps": [["x"]]}\n' * 1000, max_errors=5)
    assert len(sample_problems) == 5
    _, all_problems = read_samples('{"doc": {}, "resps": [["x"]]}\n' * 1000)
    assert len(all_problems) == 1000
