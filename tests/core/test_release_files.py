"""File-level problems (unreadable, not a JSON array, JSON syntax) and JSONL files.

Every case checks where the problem is reported (file, 1-based line where the record starts, 0-based
record index, dotted field) and what it says, and that the valid records of the same file still load.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scale_vqa.problems import Problem
from scale_vqa.release import LoadResult, read_release
from tests.helpers.release_files import ids, matching, record, write_array, write_jsonl

# --------------------------------------------------------------------------------------------------------
# File-level problems: the file cannot be read or is not a JSON array of records
# --------------------------------------------------------------------------------------------------------


def _only_error(result: LoadResult, path: Path) -> Problem:
    assert not result.ok
    [problem] = result.report.errors
    assert problem.file == str(path)
    assert problem.field is None
    assert problem.index is None
    return problem


def test_file_not_found(tmp_path: Path) -> None:
    path = tmp_path / "val.json"
    result = read_release(path)
    problem = _only_error(result, path)
    assert "not found" in problem.message
    assert result.items == [] and result.n_records == 0


def test_directory_instead_of_file(tmp_path: Path) -> None:
    path = tmp_path / "val.json"
    path.mkdir()
    problem = _only_error(read_release(path), path)
    assert "directory" in problem.message


def test_not_utf8_reports_line_of_bad_byte(tmp_path: Path) -> None:
    path = tmp_path / "val.json"
    path.write_bytes(b'[\n  {\n    "question": "caf\xe9 au lait?"\n  }\n]\n')  # Latin-1 é on line 3
    problem = _only_error(read_release(path), path)
    assert "UTF-8" in problem.message
    assert problem.line == 3


def test_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "val.json"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    problem = _only_error(read_release(path), path)
    assert "binary" in problem.message and "NUL" in problem.message


@pytest.mark.parametrize("content", ["", "\n\n   \t\n"], ids=["empty", "whitespace-only"])
def test_empty_file(tmp_path: Path, content: str) -> None:
    path = tmp_path / "val.json"
    path.write_text(content, encoding="utf-8")
    problem = _only_error(read_release(path), path)
    assert "empty file" in problem.message
    assert problem.line == 1


def test_empty_jsonl_file(tmp_path: Path) -> None:
    path = tmp_path / "val.jsonl"
    path.write_text("\n  \n", encoding="utf-8")
    problem = _only_error(read_release(path), path)
    assert "empty file" in problem.message


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "val.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps([record(1)]).encode("utf-8"))
    result = read_release(path)
    assert result.ok and ids(result) == ["val-00001"]


def test_invalid_json_syntax_reports_its_line_and_keeps_earlier_records(tmp_path: Path) -> None:
    path = tmp_path / "val.json"
    write_array(path, [record(1), record(2), record(3), record(4)])
    text = path.read_text(encoding="utf-8")
    good = '"question": "Question 3:'
    assert text.count(good) == 1
    text = text.replace(good, '"question" "Question 3:')  # missing colon inside the 3rd record
    path.write_text(text, encoding="utf-8")
    expected_line = text[: text.index('"question" "Question 3:')].count("\n") + 1

    result = read_release(path)
    problem = _only_error(result, path)
    assert problem.line == expected_line
    assert "invalid JSON" in problem.message and "':'" in problem.message
    assert ids(result) == ["val-00001", "val-00002"]


def test_invalid_json_syntax_line_with_crlf(tmp_path: Path) -> None:
    path = tmp_path / "val.json"
    starts = write_array(path, [record(1), record(2), record(3, {"answer": "E"})], newline="\r\n")
    result = read_release(path)
    [problem] = result.report.errors
    assert problem.line == starts[2] and problem.index == 2 and problem.field == "answer"


def test_trailing_comma(tmp_path: Path) -> None:
    path = tmp_path / "val.json"
    write_array(path, [record(1), record(2)])
    text = path.read_text(encoding="utf-8")
    text = text.rstrip().removesuffix("]").rstrip() + ",\n]\n"
    path.write_text(text, encoding="utf-8")
    closing_line = text.count("\n")  # the "]" is on the last line
    assert text.splitlines()[closing_line - 1] == "]"

    result = read_release(path)
    problem = _only_error(result, path)
    assert "invalid JSON" in problem.message
    assert problem.line == closing_line
    assert ids(result) == ["val-00001", "val-00002"]


def test_missing_comma_between_records(tmp_path: Path) -> None:
    path = tmp_path / "val.json"
    body = json.dumps(record(1)) + "\n" + json.dumps(record(2))
    path.write_text("[\n" + body + "\n]\n", encoding="utf-8")
    result = read_release(path)
    problem = _only_error(result, path)
    assert "expected ',' or ']'" in problem.message
    assert problem.line == 3
    assert ids(result) == ["val-00001"]


def test_extra_data_after_array(tmp_path: Path) -> None:
    path = tmp_path / "val.json"
    path.write_text(json.dumps([record(1)]) + "\n\n" + json.dumps([record(2)]) + "\n", encoding="utf-8")
    result = read_release(path)
    problem = _only_error(result, path)
    assert "extra data" in problem.message
    assert problem.line == 3


def test_unterminated_array(tmp_path: Path) -> None:
    path = tmp_path / "val.json"
    path.write_text("[\n" + json.dumps(record(1)) + ",\n" + json.dumps(record(2)) + "\n", encoding="utf-8")
    result = read_release(path)
    problem = _only_error(result, path)
    assert "invalid JSON" in problem.message
    assert problem.line == 4
    assert ids(result) == ["val-00001", "val-00002"]


@pytest.mark.parametrize(("top", "kind"), [
    pytest.param(record(1), "object", id="object"),
    pytest.param("items", "string", id="string"),
    pytest.param(450, "number", id="number"),
    pytest.param(None, "null", id="null"),
])
def test_top_level_not_an_array(tmp_path: Path, top: Any, kind: str) -> None:
    path = tmp_path / "val.json"
    path.write_text(json.dumps(top, indent=2), encoding="utf-8")
    problem = _only_error(read_release(path), path)
    assert f"top level is a JSON {kind}" in problem.message
    assert "expected an array" in problem.message
    assert problem.line == 1


def test_top_level_object_with_syntax_error(tmp_path: Path) -> None:
    path = tmp_path / "val.json"
    path.write_text('{\n  "No": 1,\n  "question": \n}\n', encoding="utf-8")
    problem = _only_error(read_release(path), path)
    assert "invalid JSON" in problem.message
    assert problem.line == 4


@pytest.mark.parametrize("content", ["[]", "[\n\n]\n"], ids=["compact", "spaced"])
def test_empty_array_is_flagged(tmp_path: Path, content: str) -> None:
    path = tmp_path / "val.json"
    path.write_text(content, encoding="utf-8")
    result = read_release(path)
    assert result.items == []
    assert not result.ok or result.report.warnings, "an empty release must at least warn"



# --------------------------------------------------------------------------------------------------------
# JSONL
# --------------------------------------------------------------------------------------------------------


def test_jsonl_bad_line_among_good_ones(tmp_path: Path) -> None:
    path = tmp_path / "val.jsonl"
    write_jsonl(path, [
        json.dumps(record(1)),
        '{"No": 2, "question": "broken"',  # line 2: truncated
        "",  # blank lines are skipped
        json.dumps(record(3)),
        json.dumps(record(4, {"answer": "Z"})),  # line 5: schema error
        json.dumps(record(5)),
    ])
    result = read_release(path)
    assert not result.ok
    syntax = [p for p in result.report.errors if "invalid JSON" in p.message]
    assert [(p.file, p.line, p.field) for p in syntax] == [(str(path), 2, None)]
    [answer] = matching(result, "answer")
    assert (answer.line, answer.index) == (5, 3)  # 4th non-blank line: the broken one keeps its position
    assert "'Z'" in answer.message
    assert ids(result) == ["val-00001", "val-00003", "val-00005"]
    assert result.n_records == 4  # parsed records, valid or not


def test_jsonl_every_bad_line_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "val.jsonl"
    write_jsonl(path, ["{", json.dumps(record(2)), "[1,", "not json", json.dumps(record(5))])
    result = read_release(path)
    assert sorted(p.line for p in result.report.errors) == [1, 3, 4]
    assert ids(result) == ["val-00002", "val-00005"]


def test_jsonl_bad_line_has_index(tmp_path: Path) -> None:
    path = tmp_path / "val.jsonl"
    write_jsonl(path, [json.dumps(record(1)), "{broken", json.dumps(record(3))])
    result = read_release(path)
    [problem] = result.report.errors
    assert problem.line == 2
    assert problem.index == 1


@pytest.mark.parametrize("sep", ["\u2028", "\u2029", "\x85"], ids=["U+2028", "U+2029", "U+0085"])
def test_jsonl_unicode_line_separator_inside_string(tmp_path: Path, sep: str) -> None:
    path = tmp_path / "val.jsonl"
    rec = record(1, {"rationale": f"first part{sep}second part"})
    write_jsonl(path, [json.dumps(rec, ensure_ascii=False), json.dumps(record(2))])
    result = read_release(path)
    assert result.report.errors == []
    assert ids(result) == ["val-00001", "val-00002"]
    assert result.items[0].rationale == f"first part{sep}second part"
