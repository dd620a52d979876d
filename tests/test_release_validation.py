"""Malformed MCQ files in the release format: `read_release` / `load_items` and ``scale-vqa validate``.

Every case checks where the problem is reported (file, 1-based line where the record starts, 0-based
record index, dotted field) and what it says, and that the valid records of the same file still load.
Bad records are deliberately placed after good ones in pretty-printed arrays so that line and index are
not trivially 1 and 0.
"""

from __future__ import annotations

import copy
import json
import re
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from scale_vqa.cli import main
from scale_vqa.dimensions import Dimension, Scale
from scale_vqa.problems import InputError, Problem
from scale_vqa.release import LoadResult, load_items, read_release

DELETE = object()
"""Marks a key to remove in a mutation."""

BASE: dict[str, Any] = {
    "No": 1,
    "question": "Which structure is seen at high magnification?",
    "options": {"A": "Glands", "B": "Necrosis", "C": "Mitoses", "D": "Fibrosis"},
    "answer": "A",
    "rationale": "The glands are visible at every scale.",
    "image_path": {"low_mag": "slide/rois/a.jpg", "mid_mag": "slide/rois/b.jpg", "high_mag": "slide/rois/c.jpg"},
    "extra_info": {"wsi_name": "slide", "path_id": "p1", "question_type": "type_A"},
}


def record(no: int | None = 1, changes: dict[str, Any] | None = None) -> dict[str, Any]:
    """A valid record numbered `no` (distinct question and images per number), then `changes` applied.

    `changes` maps dotted paths (``options.B``, ``image_path.high_mag``) to new values, or to DELETE.
    """
    rec = copy.deepcopy(BASE)
    if no is None:
        del rec["No"]
    else:
        rec["No"] = no
        rec["question"] = f"Question {no}: which structure is seen at high magnification?"
        rec["image_path"] = {k: f"slide/rois/{no}_{k}.jpg" for k in ("low_mag", "mid_mag", "high_mag")}
        rec["extra_info"]["path_id"] = f"p{no}"
    for dotted, value in (changes or {}).items():
        *parents, last = dotted.split(".")
        target = rec
        for key in parents:
            target = target[key]
        if value is DELETE:
            del target[last]
        else:
            target[last] = value
    return rec


def write_array(path: Path, records: Sequence[Any], *, newline: str = "\n") -> list[int]:
    """Write `records` as a pretty-printed JSON array; return the 1-based line each element starts on."""
    chunks: list[str] = []
    starts: list[int] = []
    line = 2  # line 1 holds the opening bracket
    for rec in records:
        body = textwrap.indent(json.dumps(rec, indent=2, ensure_ascii=False), "  ")
        starts.append(line)
        line += body.count("\n") + 1
        chunks.append(body)
    text = "[\n" + ",\n".join(chunks) + "\n]\n"
    path.write_bytes(text.replace("\n", newline).encode("utf-8"))
    return starts


def write_jsonl(path: Path, lines: Sequence[str]) -> None:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def matching(result: LoadResult, field: str | None, severity: str = "error") -> list[Problem]:
    return [p for p in result.report if p.field == field and p.severity == severity]


def ids(result: LoadResult) -> list[str]:
    return [item.id for item in result.items]


# --------------------------------------------------------------------------------------------------------
# One bad record (the 3rd of 4) per case: (changes, field, severity, message fragment)
# --------------------------------------------------------------------------------------------------------

RECORD_CASES = [
    # question
    pytest.param({"question": DELETE}, "question", "error", "missing", id="question-missing"),
    pytest.param({"question": ""}, "question", "error", "empty", id="question-empty"),
    pytest.param({"question": " \t\n "}, "question", "error", "empty", id="question-whitespace"),
    pytest.param({"question": None}, "question", "error", "null", id="question-null"),
    pytest.param({"question": 42}, "question", "error", "expected a string", id="question-not-string"),
    pytest.param({"question": "Look at <image> and answer."}, "question", "error", "<image>",
                 id="question-image-placeholder"),
    # options
    pytest.param({"options": DELETE}, "options", "error", "missing", id="options-missing"),
    pytest.param({"options": ["Glands", "Necrosis", "Mitoses", "Fibrosis"]}, "options", "error",
                 "expected an object mapping letters", id="options-list"),
    pytest.param({"options": None}, "options", "error", "got null", id="options-null"),
    pytest.param({"options": {"A": "Glands"}}, "options", "error", "has 1 option(s), need 2 to 10",
                 id="options-fewer-than-2"),
    pytest.param({"options": {}}, "options", "error", "has 0 option(s)", id="options-empty-mapping"),
    pytest.param({"options": {k: f"text {k}" for k in "ABCDEFGHIJK"}}, "options", "error",
                 "has 11 option(s), need 2 to 10", id="options-more-than-10"),
    pytest.param({"options": {"a": "Glands", "b": "Necrosis"}}, "options.a", "error", "use upper case",
                 id="options-lowercase-key"),
    pytest.param({"options": {"A": "Glands", "1": "Necrosis"}}, "options.1", "error", "not a letter",
                 id="options-digit-key"),
    pytest.param({"options": {"A": "Glands", "B": "Necrosis", "D": "Fibrosis"}}, "options", "error",
                 "ABD have gaps; expected ABC", id="options-letter-gap"),
    pytest.param({"options.B": ""}, "options.B", "error", "empty", id="option-text-empty"),
    pytest.param({"options.B": 7}, "options.B", "error", "expected a string", id="option-text-not-string"),
    pytest.param({"options.C": None}, "options.C", "error", "null", id="option-text-null"),
    pytest.param({"options.D": "See <image>"}, "options.D", "error", "<image>", id="option-image-placeholder"),
    # answer
    pytest.param({"answer": DELETE}, "answer", "error", "missing", id="answer-missing"),
    pytest.param({"answer": "E"}, "answer", "error", "'E' is not among the options A–D",
                 id="answer-not-among-options"),
    pytest.param({"answer": 1}, "answer", "error", "expected a string", id="answer-integer"),
    pytest.param({"answer": "AB"}, "answer", "error", "'AB' is not among the options A–D", id="answer-two-letters"),
    pytest.param({"answer": ""}, "answer", "error", "empty", id="answer-empty"),
    # id / No
    pytest.param({"No": "3"}, "No", "error", "expected a whole number, got string", id="No-string"),
    pytest.param({"No": True}, "No", "error", "got boolean", id="No-boolean"),
    pytest.param({"No": 3.5}, "No", "error", "expected a whole number", id="No-float"),
    pytest.param({"No": -3}, "No", "error", ">= 0", id="No-negative"),
    pytest.param({"id": "item 3"}, "id", "error", "is not a valid id", id="id-with-space"),
    pytest.param({"id": "split/item-3"}, "id", "error", "is not a valid id", id="id-with-slash"),
    pytest.param({"id": "-item"}, "id", "error", "starting with a letter or digit", id="id-leading-dash"),
    pytest.param({"id": 3}, "id", "error", "expected a string", id="id-not-string"),
    # dimension
    pytest.param({"extra_info.question_type": "type_F"}, "extra_info.question_type", "error",
                 "unknown dimension 'type_F'", id="dimension-unknown"),
    pytest.param({"extra_info.question_type": DELETE}, "extra_info.question_type", "error", "missing",
                 id="dimension-missing"),
    pytest.param({"extra_info.question_type": 1}, "extra_info.question_type", "error", "expected a string",
                 id="dimension-not-string"),
    pytest.param({"dimension": "type_B"}, "dimension", "error", "conflicts with extra_info.question_type",
                 id="dimension-conflict"),
    pytest.param({"question_type": "diagnosis"}, "question_type", "error", "type_E vs type_A",
                 id="question-type-conflict"),
    # rationale
    pytest.param({"rationale": ["because"]}, "rationale", "error", "expected a string",
                 id="rationale-not-string"),
    # image paths
    pytest.param({"image_path": ["a.jpg", "b.jpg", "c.jpg"]}, "image_path", "error", "expected an object",
                 id="image-path-not-mapping"),
    pytest.param({"image_path.low_mag": 17}, "image_path.low_mag", "error", "relative path string or null",
                 id="image-path-integer"),
    pytest.param({"image_path.mid_mag": "/data/x.jpg"}, "image_path.mid_mag", "error", "is absolute",
                 id="image-path-absolute-posix"),
    pytest.param({"image_path.mid_mag": "C:\\slides\\x.jpg"}, "image_path.mid_mag", "error", "is absolute",
                 id="image-path-absolute-windows"),
    pytest.param({"image_path.mid_mag": "\\\\server\\share\\x.jpg"}, "image_path.mid_mag", "error",
                 "is absolute", id="image-path-unc"),
    pytest.param({"image_path.low_mag": "slide/../../etc/x.jpg"}, "image_path.low_mag", "error",
                 "contains '..'", id="image-path-dotdot"),
    pytest.param({"image_path.high_mag": ""}, "image_path.high_mag", "error", "empty path",
                 id="image-path-empty-string"),
    pytest.param({"image_path.high_mag": "   "}, "image_path.high_mag", "error", "empty path",
                 id="image-path-whitespace"),
    pytest.param({"image_path.high_mag": "https://example.org/x.jpg"}, "image_path.high_mag", "error",
                 "is a URL", id="image-path-url"),
    pytest.param({"image_path.high_mag": "a\x00b.jpg"}, "image_path.high_mag", "error", "NUL",
                 id="image-path-nul"),
    # extra_info / metadata
    pytest.param({"extra_info": ["slide", "p3", "type_A"]}, "extra_info", "error", "expected an object",
                 id="extra-info-not-mapping"),
    pytest.param({"extra_info.wsi_name": 123}, "extra_info.wsi_name", "error", "expected a string",
                 id="wsi-name-not-string"),
    pytest.param({"extra_info.path_id": ["p"]}, "extra_info.path_id", "error", "expected a string",
                 id="path-id-not-string"),
    pytest.param({"wsi_name": "other-slide"}, "wsi_name", "error", "conflicts with extra_info.wsi_name",
                 id="wsi-name-conflict"),
    # warnings: the record is still loaded
    pytest.param({"answer": "b"}, "answer", "warning", "normalised to 'B'", id="answer-lowercase"),
    pytest.param({"options.B": "  GLANDS "}, "options.B", "warning", "same text as option A",
                 id="options-duplicate-text"),
    pytest.param({"colour": "blue"}, "colour", "warning", "unknown field", id="unknown-top-level-key"),
    pytest.param({"image_path.ultra_mag": "slide/x.jpg"}, "image_path.ultra_mag", "warning",
                 "unknown scale key", id="image-path-unknown-key"),
    pytest.param({"image_path": DELETE}, "image_path", "warning", "no images", id="image-path-missing"),
]


@pytest.mark.parametrize(("changes", "field", "severity", "fragment"), RECORD_CASES)
def test_bad_record_is_reported_with_location(tmp_path: Path, changes: dict[str, Any], field: str,
                                              severity: str, fragment: str) -> None:
    path = tmp_path / "val.json"
    records = [record(1), record(2), record(3, changes), record(4)]
    starts = write_array(path, records)

    result = read_release(path)

    found = [p for p in matching(result, field, severity) if fragment in p.message]
    assert found, f"no {severity} on {field!r} containing {fragment!r}: {result.report.format()}"
    problem = found[0]
    assert problem.file == str(path)
    assert problem.index == 2
    assert problem.line == starts[2]
    # Nothing is blamed on the good records.
    assert {p.index for p in result.report} == {2}
    assert result.n_records == 4
    if severity == "error":
        assert not result.ok
        assert ids(result)[:2] == ["val-00001", "val-00002"]
        assert ids(result)[-1] == "val-00004"
        assert len(result.items) == 3
    else:
        assert result.ok
        assert result.report.errors == []
        assert ids(result) == ["val-00001", "val-00002", "val-00003", "val-00004"]


@pytest.mark.parametrize("element", [
    pytest.param("just a string", id="string"),
    pytest.param(42, id="number"),
    pytest.param(None, id="null"),
    pytest.param([record(3)], id="nested-array"),
])
def test_array_element_not_an_object(tmp_path: Path, element: Any) -> None:
    path = tmp_path / "val.json"
    starts = write_array(path, [record(1), record(2), element, record(4)])
    result = read_release(path)
    assert not result.ok
    [problem] = result.report.errors
    assert (problem.file, problem.index, problem.line, problem.field) == (str(path), 2, starts[2], None)
    assert "expected an object" in problem.message
    assert ids(result) == ["val-00001", "val-00002", "val-00004"]


def test_lowercase_answer_is_normalised(tmp_path: Path) -> None:
    path = tmp_path / "val.json"
    write_array(path, [record(1, {"answer": "c"})])
    [item] = load_items(path)
    assert item.answer == "C"
    assert item.gold_text == "Mitoses"


def test_duplicate_option_texts_still_load_every_option(tmp_path: Path) -> None:
    path = tmp_path / "val.json"
    write_array(path, [record(1, {"options.C": "glands"})])
    result = read_release(path)
    assert result.ok
    [item] = result.items
    assert item.options == ("Glands", "Necrosis", "glands", "Fibrosis")
    [warning] = result.report.warnings
    assert warning.field == "options.C"
    assert "option A" in warning.message


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


# --------------------------------------------------------------------------------------------------------
# Duplicates, image files, several problems at once
# --------------------------------------------------------------------------------------------------------


def test_duplicate_No_names_first_occurrence(tmp_path: Path) -> None:
    path = tmp_path / "val.json"
    other = record(1, {"question": "A different question with the same number?"})
    starts = write_array(path, [record(1), record(2), other, record(4)])
    result = read_release(path)
    assert not result.ok
    [problem] = result.report.errors
    assert (problem.field, problem.index, problem.line) == ("No", 2, starts[2])
    assert "duplicate id 'val-00001'" in problem.message
    assert f"first at {path}:{starts[0]} [0]" in problem.message
    assert result.duplicate_ids == ["val-00001"]
    assert ids(result) == ["val-00001", "val-00002", "val-00004"]
    assert result.items[0].question == record(1)["question"]  # the first one is kept


def test_duplicate_explicit_id(tmp_path: Path) -> None:
    path = tmp_path / "val.json"
    starts = write_array(path, [record(None, {"id": "q-1"}), record(2),
                                record(None, {"id": "q-1", "question": "Another?"})])
    result = read_release(path)
    [problem] = result.report.errors
    assert (problem.field, problem.index, problem.line) == ("id", 2, starts[2])
    assert "duplicate id 'q-1'" in problem.message and f"{path}:{starts[0]}" in problem.message
    assert ids(result) == ["q-1", "val-00002"]


def test_duplicate_id_across_files_names_the_other_file(tmp_path: Path) -> None:
    first, second = tmp_path / "val.json", tmp_path / "extra_val.json"
    starts1 = write_array(first, [record(1), record(2)])
    starts2 = write_array(second, [record(3), record(2, {"question": "Other?"})])
    result = read_release([first, second])
    [problem] = result.report.errors
    assert (problem.file, problem.index, problem.line) == (str(second), 1, starts2[1])
    assert f"first at {first}:{starts1[1]} [1]" in problem.message
    assert ids(result) == ["val-00001", "val-00002", "val-00003"]


def test_same_content_under_different_No_warns(tmp_path: Path) -> None:
    path = tmp_path / "val.json"
    twin = record(1, {"No": 3})  # same question, options and images as record 1
    starts = write_array(path, [record(1), record(2), twin])
    result = read_release(path)
    assert result.ok
    [warning] = result.report.warnings
    assert (warning.index, warning.line, warning.item_id) == (2, starts[2], "val-00003")
    assert "same question, options and images" in warning.message
    assert f"{path}:{starts[0]} [0]" in warning.message and "val-00001" in warning.message
    assert result.duplicate_content == [("val-00003", "val-00001")]
    assert ids(result) == ["val-00001", "val-00002", "val-00003"]


def test_different_images_are_not_duplicate_content(tmp_path: Path) -> None:
    path = tmp_path / "val.json"
    write_array(path, [record(1), record(1, {"No": 2, "image_path.high_mag": "slide/rois/other.jpg"})])
    result = read_release(path)
    assert result.ok and result.report.problems == [] and result.duplicate_content == []


def test_missing_image_file_under_image_root(tmp_path: Path) -> None:
    path, root = tmp_path / "val.json", tmp_path / "images"
    records = [record(1), record(2), record(3, {"image_path.high_mag": None})]
    starts = write_array(path, records)
    for rec in records:
        for rel in rec["image_path"].values():
            if rel is not None:
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                (root / rel).write_bytes(b"\xff\xd8\xff")
    assert read_release(path, image_root=root).ok  # all present; the null one is not required
    gone = root / records[1]["image_path"]["mid_mag"]
    gone.unlink()

    result = read_release(path, image_root=root)
    assert not result.ok
    [problem] = result.report.errors
    assert (problem.field, problem.index, problem.line) == ("image_path.mid_mag", 1, starts[1])
    assert "image file not found" in problem.message and str(gone) in problem.message
    assert ids(result) == ["val-00001", "val-00003"]
    assert read_release(path).ok  # without image_root the files are not checked


def test_record_with_several_problems_reports_all(tmp_path: Path) -> None:
    path = tmp_path / "val.json"
    bad = record(2, {
        "question": "",
        "options.B": 5,
        "answer": "Q",
        "image_path.low_mag": "/abs.jpg",
        "image_path.high_mag": "../up.jpg",
        "extra_info.question_type": "type_F",
        "extra_info.wsi_name": 9,
        "rationale": 1,
        "mystery": True,
    })
    starts = write_array(path, [record(1), bad])
    result = read_release(path)
    assert {p.field for p in result.report.errors} >= {
        "question", "options.B", "answer", "image_path.low_mag", "image_path.high_mag",
        "extra_info.question_type", "extra_info.wsi_name", "rationale",
    }
    assert [p.field for p in result.report.warnings] == ["mystery"]
    assert all(p.index == 1 and p.line == starts[1] and p.file == str(path) for p in result.report)
    assert all(p.item_id == "val-00002" for p in result.report)
    assert ids(result) == ["val-00001"]


def test_load_items_raises_input_error_listing_every_error(tmp_path: Path) -> None:
    path = tmp_path / "val.json"
    write_array(path, [record(1, {"answer": "E"}), record(2), record(3, {"options": []}),
                       record(4, {"image_path.low_mag": "http://x/y.jpg", "colour": "red"})])
    expected = read_release(path).report
    with pytest.raises(InputError) as info:
        load_items(path)
    report = info.value.report
    assert [(p.index, p.field) for p in report.errors] == [(0, "answer"), (2, "options"),
                                                           (3, "image_path.low_mag")]
    assert report.errors == expected.errors
    assert "3 error(s)" in str(info.value)
    assert str(path) in str(info.value)


def test_load_items_returns_items_when_only_warnings(tmp_path: Path) -> None:
    path = tmp_path / "val.json"
    write_array(path, [record(1, {"answer": "a"}), record(2, {"colour": "red"})])
    assert [item.id for item in load_items(path)] == ["val-00001", "val-00002"]


def _bad_inputs() -> list[tuple[str, bytes]]:
    """Many malformed files (name, bytes)."""
    recs = [record(1), record(2)]
    array = json.dumps(recs)
    out: list[tuple[str, bytes]] = [
        ("val.json", b""), ("val.json", b"\x00\x01\x02"), ("val.json", b"\xff\xfe[\x00]\x00"),
        ("val.json", b"\xc3("), ("val.json", b"["), ("val.json", b"]"), ("val.json", b"[,]"),
        ("val.json", b"[1,]"), ("val.json", b"{}"), ("val.json", b"null"), ("val.json", b"[[]]"),
        ("val.json", b"[{}]"), ("val.json", b"[{}, {}]"), ("val.json", b'[{"No": NaN}]'),
        ("val.json", b'[{"No": 1e400, "answer": Infinity}]'), ("val.json", b"[" + b'"x",' * 50 + b"1]"),
        ("val.json", array.encode() + b"garbage"), ("val.json", array[:-5].encode()),
        ("val.json", b'[{"options": {"": "x", "AB": "y", "\\u00df": "z"}}]'),
        ("val.json", b'[{"options": {"A": {"nested": 1}, "B": [1]}, "answer": {"A": 1}}]'),
        ("val.json", b'[{"image_path": {"low_mag": {"p": 1}, "mid_mag": [], "high_mag": true}}]'),
        ("val.json", b'[{"extra_info": {"question_type": ["type_A"], "wsi_name": {}}}]'),
        ("val.json", b'[{"id": "", "No": -1}, {"id": null, "No": null}]'),
        ("val.jsonl", b""), ("val.jsonl", b"\n\n"), ("val.jsonl", b"[]\n{}\n1\n\"s\"\nnull\n{bad"),
        ("val.jsonl", b"\xff\n{}"),
    ]
    for i, case in enumerate(RECORD_CASES):
        changes = case.values[0]
        out.append((f"val{i}.json", json.dumps([record(1), record(2, changes)]).encode()))
    return out


def test_no_exception_on_any_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for n, (name, data) in enumerate(_bad_inputs()):
        folder = tmp_path / str(n)
        folder.mkdir()
        path = folder / name
        path.write_bytes(data)
        result = read_release(path, image_root=folder)
        assert isinstance(result, LoadResult)
        for problem in result.report:
            assert problem.file == str(path) and problem.message
            str(problem)  # formatting never fails
        try:
            load_items(path)
        except InputError as exc:
            assert exc.report.errors
        code = main(["validate", str(path), "--json"])
        summary = json.loads(capsys.readouterr().out)
        assert code == (0 if summary["ok"] else 1)
        assert code == main(["validate", str(path)])
        capsys.readouterr()


@pytest.mark.parametrize(("name", "text"), [
    pytest.param("val.json", "[" * 100_000 + "]" * 100_000, id="array"),
    pytest.param("val.json", '{"a": ' + "[" * 100_000, id="top-level-object"),
    pytest.param("val.jsonl", '{"No": ' + "[" * 100_000 + "\n", id="jsonl"),
])
def test_deeply_nested_json_does_not_raise(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    result = read_release(path)
    assert not result.ok


@pytest.mark.parametrize("name", ["val.json", "val.jsonl"])
def test_huge_integer_literal_does_not_raise(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    rec = json.dumps(record(1)).replace('"No": 1', '"No": ' + "9" * 5000)
    path.write_text(rec + "\n" if name.endswith(".jsonl") else f"[{rec}]", encoding="utf-8")
    result = read_release(path)
    assert not result.ok
    assert {p.field for p in result.report.errors} <= {None, "No"}


@pytest.mark.parametrize("where", ["question", "options.B", "image_path.low_mag"])
def test_lone_surrogate_does_not_raise(tmp_path: Path, where: str) -> None:
    path = tmp_path / "val.json"
    text = json.dumps([record(1), record(2, {where: "bad \ud800 text"})])  # ensure_ascii: written as \ud800
    assert "\\ud800" in text
    path.write_text(text, encoding="utf-8")
    result = read_release(path)
    assert "val-00001" in ids(result)
    assert all(p.index == 1 for p in result.report.errors)


def test_explicit_id_with_trailing_newline_is_invalid(tmp_path: Path) -> None:
    path = tmp_path / "val.json"
    starts = write_array(path, [record(1), record(None, {"id": "q-1\n"})])
    result = read_release(path)
    [problem] = matching(result, "id")
    assert (problem.index, problem.line) == (1, starts[1])
    assert "not a valid id" in problem.message


# --------------------------------------------------------------------------------------------------------
# Id rule and splits
# --------------------------------------------------------------------------------------------------------


def test_id_from_No_and_val_file_name(tmp_path: Path) -> None:
    path = tmp_path / "val.json"
    write_array(path, [record(1), record(450), record(123456)])
    items = load_items(path)
    assert [i.id for i in items] == ["val-00001", "val-00450", "val-123456"]
    assert {i.split for i in items} == {"validation"}
    assert [i.number for i in items] == [1, 450, 123456]


def test_id_from_No_and_test_file_name(tmp_path: Path) -> None:
    path = tmp_path / "test.json"
    write_array(path, [record(7)])
    [item] = load_items(path)
    assert (item.id, item.split, item.number) == ("test-00007", "test", 7)


def test_jsonl_file_uses_the_same_id_rule(tmp_path: Path) -> None:
    path = tmp_path / "val.jsonl"
    write_jsonl(path, [json.dumps(record(3))])
    assert [i.id for i in load_items(path)] == ["val-00003"]


def test_explicit_id_wins_over_No(tmp_path: Path) -> None:
    path = tmp_path / "val.json"
    write_array(path, [record(5, {"id": "custom:item_5.v2"})])
    [item] = load_items(path)
    assert item.id == "custom:item_5.v2"
    assert item.number == 5


def _hash_id(path: Path, rec: dict[str, Any], position: int = 0) -> str:
    records = [record(100 + k) for k in range(position)] + [rec]
    write_array(path, records)
    return load_items(path)[-1].id


def test_content_hash_id_rule(tmp_path: Path) -> None:
    path = tmp_path / "val.json"
    rec = record(None)
    first = _hash_id(path, rec)
    assert re.fullmatch(r"val-h[0-9a-f]{12}", first)
    assert _hash_id(path, rec) == first  # stable across reads
    assert _hash_id(path, rec, position=3) == first  # does not depend on the record's position
    changed = copy.deepcopy(rec)
    changed["question"] += " (revised)"
    assert _hash_id(path, changed) != first
    moved = copy.deepcopy(rec)
    moved["image_path"]["low_mag"] = "slide/rois/other.jpg"
    assert _hash_id(path, moved) != first
    assert _hash_id(tmp_path / "test.json", rec).startswith("test-h")


def test_split_override_changes_prefix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "val.json"
    write_array(path, [record(1), record(2)])
    items = load_items(path, split="test")
    assert [i.id for i in items] == ["test-00001", "test-00002"]
    assert {i.split for i in items} == {"test"}
    assert [i.id for i in read_release(path, split="validation").items] == ["val-00001", "val-00002"]
    assert main(["validate", str(path), "--split", "train", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["ids"] == ["train-00001", "train-00002"]


def test_split_override_accepts_aliases_like_file_names(tmp_path: Path) -> None:
    path = tmp_path / "dev.json"
    write_array(path, [record(1)])
    [inferred] = load_items(path)
    [overridden] = load_items(path, split="dev")
    assert (inferred.id, inferred.split) == ("val-00001", "validation")
    assert (overridden.id, overridden.split) == (inferred.id, inferred.split)


# --------------------------------------------------------------------------------------------------------
# Missing images and image naming
# --------------------------------------------------------------------------------------------------------


def test_null_image_is_reported_missing(tmp_path: Path) -> None:
    path = tmp_path / "val.json"
    write_array(path, [record(1, {"image_path.high_mag": None}),
                       record(2, {"image_path.low_mag": None, "image_path.mid_mag": None}), record(3)])
    result = read_release(path)
    assert result.ok and result.report.problems == []
    one, two, three = result.items
    assert one.images.missing() == (Scale.HIGH,)
    assert one.images.present() == (Scale.LOW, Scale.MID)
    assert two.images.missing() == (Scale.LOW, Scale.MID)
    assert three.images.missing() == ()


def test_absent_image_path_means_all_missing(tmp_path: Path) -> None:
    path = tmp_path / "val.json"
    write_array(path, [record(1, {"image_path": DELETE})])
    [item] = load_items(path)
    assert item.images.missing() == (Scale.LOW, Scale.MID, Scale.HIGH)


@pytest.mark.parametrize("name", [
    "slide/rois/10_35.36304y_18152x.jpg", "a.png", "x.jpeg", "UPPER/CASE.JPG", "deep/er/still/ok.PNG",
    "slide 1/roi (2).jpg", "no-extension", "ünïcödé/画像.png", "./here/a.jpg", "win\\style\\path.jpg",
], ids=lambda n: re.sub(r"\W+", "_", n))
def test_any_relative_image_name_is_accepted(tmp_path: Path, name: str) -> None:
    path = tmp_path / "val.json"
    write_array(path, [record(1, {"image_path.low_mag": name})])
    result = read_release(path)
    assert result.ok and result.report.problems == []
    assert result.items[0].images.low_mag == name  # kept verbatim, never parsed


@pytest.mark.parametrize("suffix", ["png", "jpg", "jpeg"])
def test_existing_png_and_jpeg_files_pass_image_root_check(tmp_path: Path, suffix: str) -> None:
    path, root = tmp_path / "val.json", tmp_path / "imgs"
    rec = record(1, {f"image_path.{k}": f"s/{k}.{suffix}" for k in ("low_mag", "mid_mag", "high_mag")})
    write_array(path, [rec])
    (root / "s").mkdir(parents=True)
    for k in ("low_mag", "mid_mag", "high_mag"):
        (root / "s" / f"{k}.{suffix}").write_bytes(b"img")
    assert read_release(path, image_root=root).ok
    assert main(["validate", str(path), "--images", str(root)]) == 0


# --------------------------------------------------------------------------------------------------------
# The validate command
# --------------------------------------------------------------------------------------------------------


def test_cli_valid_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "val.json"
    write_array(path, [record(1), record(2, {"image_path.high_mag": None})])
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert "valid items: 2" in out
    assert out.rstrip().endswith("OK")


def test_cli_invalid_file_names_each_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "val.json"
    starts = write_array(path, [record(1), record(2, {"answer": "E"}), record(3),
                                record(4, {"options.C": ""}), record(5, {"colour": 1})])
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    lines = out.splitlines()
    for index, field in ((1, "answer"), (3, "options.C"), (4, "colour")):
        hits = [ln for ln in lines if f"{path}:{starts[index]}:" in ln]
        assert hits, f"record {index} not named with file:line"
        assert f"[{index}]" in hits[0] and f"{field}:" in hits[0]
    assert "FAILED" in out
    assert main(["validate", str(tmp_path / "nope.json")]) == 1
    assert "not found" in capsys.readouterr().out


def test_cli_json_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "val.json"
    starts = write_array(path, [
        record(5, {"extra_info.question_type": "type_C"}),
        record(2, {"image_path.high_mag": None}),
        record(9, {"extra_info.question_type": "type_C", "answer": "X"}),
        record(1, {"dimension": "diagnosis", "extra_info.question_type": DELETE}),
        record(2, {"question": "Duplicate number"}),
    ])
    assert main(["validate", str(path), "--json"]) == 1
    summary = json.loads(capsys.readouterr().out)
    assert {"ok", "n_items", "per_dimension", "missing_images", "duplicates", "problems", "ids"} <= set(summary)
    assert summary["ok"] is False
    assert summary["ids"] == ["val-00005", "val-00002", "val-00001"]  # file order, not sorted
    assert summary["n_items"] == 3
    per_dim = {code: v["n"] for code, v in summary["per_dimension"].items()}
    assert per_dim == {"type_A": 1, "type_B": 0, "type_C": 1, "type_D": 0, "type_E": 1}
    assert summary["missing_images"]["n_items"] == 1
    assert summary["missing_images"]["ids"] == ["val-00002"]
    assert summary["missing_images"]["by_scale"]["high_mag"] == 1
    assert summary["duplicates"]["ids"] == ["val-00002"]
    located = {(p["index"], p["field"], p["line"]) for p in summary["problems"] if p["severity"] == "error"}
    assert located == {(2, "answer", starts[2]), (4, "No", starts[4])}
    assert all(p["file"] == str(path) for p in summary["problems"])


def test_cli_json_valid_has_ok_true(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "val.jsonl"
    write_jsonl(path, [json.dumps(record(n)) for n in (3, 1, 2)])
    assert main(["validate", str(path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["ok"] is True and summary["problems"] == []
    assert summary["ids"] == ["val-00003", "val-00001", "val-00002"]


# --------------------------------------------------------------------------------------------------------
# The real validation split (read from ../shared, never copied into the project)
# --------------------------------------------------------------------------------------------------------


@pytest.fixture
def real_val(val_path: Path) -> Path:
    """The shared split (conftest's `val_path`, which skips when it is absent)."""
    return val_path


def test_real_val_is_valid(real_val: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(real_val), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["ok"] is True
    assert summary["n_items"] == 450
    for dim in Dimension:
        assert summary["per_dimension"][dim.code]["n"] == 90
    missing = summary["missing_images"]
    assert missing["n_items"] == 15
    assert missing["by_scale"] == {"low_mag": 0, "mid_mag": 0, "high_mag": 15}
    assert summary["ids"] == [f"val-{n:05d}" for n in range(1, 451)]
    assert summary["duplicates"] == {"ids": [], "content": []}
    raw = json.loads(real_val.read_text(encoding="utf-8"))
    assert sorted(missing["ids"]) == sorted(f"val-{r['No']:05d}" for r in raw if r["image_path"]["high_mag"] is None)


def test_corrupted_copy_of_real_val(real_val: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records = json.loads(real_val.read_text(encoding="utf-8"))
    assert records[10]["answer"] in "ABCD" and len(records[10]["options"]) == 4
    records[10]["answer"] = "E"
    records[20]["No"] = records[5]["No"]
    path = tmp_path / "val.json"
    starts = write_array(path, records)

    assert main(["validate", str(path), "--json"]) == 1
    summary = json.loads(capsys.readouterr().out)
    errors = [p for p in summary["problems"] if p["severity"] == "error"]
    assert len(errors) == 2
    answer = next(p for p in errors if p["field"] == "answer")
    assert (answer["index"], answer["line"]) == (10, starts[10])
    assert "'E'" in answer["message"]
    dup = next(p for p in errors if p["field"] == "No")
    assert (dup["index"], dup["line"]) == (20, starts[20])
    assert f"duplicate id 'val-{records[5]['No']:05d}'" in dup["message"]
    assert f"{path}:{starts[5]} [5]" in dup["message"]
    assert summary["n_items"] == 448

    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"{path}:{starts[10]}:" in out and f"{path}:{starts[20]}:" in out
    assert "duplicate id" in out and "not among the options" in out
