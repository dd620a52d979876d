"""One bad record among good ones: where each problem is reported and what it says.

Every case checks where the problem is reported (file, 1-based line where the record starts, 0-based
record index, dotted field) and what it says, and that the valid records of the same file still load.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from scale_vqa.release import load_items, read_release
from tests.helpers.release_files import RECORD_CASES, ids, matching, record, write_array

# --------------------------------------------------------------------------------------------------------
# One bad record (the 3rd of 4) per case: (changes, field, severity, message fragment)
# --------------------------------------------------------------------------------------------------------



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
