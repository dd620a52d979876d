"""Duplicates, several problems at once, hostile inputs, the id rule and splits.

Every case checks where the problem is reported (file, 1-based line where the record starts, 0-based
record index, dotted field) and what it says, and that the valid records of the same file still load.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from scale_vqa.cli import main
from scale_vqa.problems import InputError
from scale_vqa.release import LoadResult, load_items, read_release
from tests.helpers.release_files import RECORD_CASES, ids, matching, record, write_array, write_jsonl

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
