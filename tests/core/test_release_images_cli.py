"""Missing images and image naming, the validate command, and the real validation split.

Every case checks where the problem is reported (file, 1-based line where the record starts, 0-based
record index, dotted field) and what it says, and that the valid records of the same file still load.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from scale_vqa.cli import main
from scale_vqa.dimensions import Dimension, Scale
from scale_vqa.release import load_items, read_release
from tests.helpers.release_files import DELETE, record, write_array, write_jsonl

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


def test_validate_refuses_image_symlinks_that_resolve_outside_the_image_folder(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, root = tmp_path / "val.json", tmp_path / "imgs"
    (root / "s").mkdir(parents=True)
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"not part of the release")
    for k in ("low_mag", "mid_mag"):
        (root / "s" / f"{k}.png").write_bytes(b"img")
    (root / "s" / "high_mag.png").symlink_to(secret)
    inside = {f"image_path.{k}": f"s/{k}.png" for k in ("low_mag", "mid_mag")}
    write_array(path, [record(1, inside | {"image_path.high_mag": "s/high_mag.png"}),
                       record(2, inside | {"image_path.high_mag": "s/mid_mag.png"})])
    assert main(["validate", str(path), "--images", str(root)]) == 1
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if "outside the image folder" in x)
    assert str(path) in line and "val-00001" in line and "image_path.high_mag" in line and str(secret) in line
    assert "valid items: 1" in out
