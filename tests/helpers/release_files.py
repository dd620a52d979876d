"""Release-format MCQ files for the validation tests: a valid record, mutations of it (and the catalogue of one-record
defects), and writers that return the line each record starts on."""

from __future__ import annotations

import copy
import json
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from scale_vqa.problems import Problem
from scale_vqa.release import LoadResult

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
"""One defect per case: (changes to the 3rd of 4 records, field, severity, message fragment)."""
