"""`scale-vqa build`: a release → Hub-ready parquet folder → `load_dataset`, on the real val JSON and on others."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import zlib
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from datasets import Image as ImageFeature
from datasets import load_dataset
from PIL import Image

from builders.dataset.builder import ScaleVQA
from builders.dataset.cli import demo_step
from builders.dataset.export import build_dataset, verify_checksums
from builders.dataset.features import features
from builders.dataset.images import image_problem
from scale_vqa.cli import main
from scale_vqa.demo import make_demo_release, write_demo
from scale_vqa.dimensions import DIMENSIONS, Dimension
from scale_vqa.errors import MissingExtraError
from scale_vqa.item import ImageRefs, Item
from scale_vqa.problems import InputError
from scale_vqa.release import load_items, write_release
from tests.helpers.audit_data import one_thread  # noqa: F401  (the audit run of the hard-subset test)


def tiny_image(rel: str, fmt: str = "JPEG", size: int = 24) -> bytes:
    """A small image whose colour depends on its path (so files differ)."""
    h = zlib.crc32(rel.encode())
    im = Image.new("RGB", (size, size), (h & 255, (h >> 8) & 255, (h >> 16) & 255))
    buf = io.BytesIO()
    im.save(buf, format=fmt)
    return buf.getvalue()


def write_images(items: list[Item], root: Path, fmt: str = "JPEG") -> dict[str, Path]:
    files = {}
    for item in items:
        for _, rel in item.images:
            if rel is not None and rel not in files:
                path = root / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(tiny_image(rel, fmt))
                files[rel] = path
    return files


@pytest.fixture(scope="module")
def real_build(tmp_path_factory, request) -> dict[str, Path]:
    """The real val.json (symlinked, never copied) + synthetic JPEGs at its release paths, built once."""
    from tests.helpers.items import SHARED_VAL

    if not SHARED_VAL.is_file():
        pytest.skip(f"real validation split not found at {SHARED_VAL}")
    tmp = tmp_path_factory.mktemp("real")
    release = tmp / "release"
    release.mkdir()
    (release / "val.json").symlink_to(SHARED_VAL)
    items = load_items(release / "val.json")
    write_images(items, tmp / "images")
    out = tmp / "out"
    build_dataset(release, out, images=tmp / "images", progress=False)
    return {"release": release, "images": tmp / "images", "out": out, "cache": tmp / "cache"}


def test_real_val_builds_and_loads_typed(real_build, val_path) -> None:
    ds = load_dataset(str(real_build["out"]), cache_dir=str(real_build["cache"]))
    assert list(ds) == ["validation"]
    val = ds["validation"]
    assert val.num_rows == 450
    assert val.features == features()
    names = val.features["dimension"].names
    assert Counter(names[d] for d in val["dimension"]) == {d.value: 90 for d in DIMENSIONS}
    items = load_items(val_path)
    assert val["id"] == [i.id for i in items]  # the core's stable ids, in release order
    assert val["id"][0] == "val-00001"
    letters = val.features["answer"].names
    no_high = 0
    for row, item in zip(val, items, strict=True):
        assert row["question"] == item.question and row["options"] == list(item.options)
        assert letters[row["answer"]] == item.answer and row["options"][row["answer"]] == item.gold_text
        assert row["wsi_name"] == item.wsi_name and row["path_id"] == item.path_id
        for scale, rel in item.images:
            assert row[f"{scale.value}_path"] == rel
            if rel is None:
                assert row[scale.value] is None
            else:
                assert isinstance(row[scale.value], Image.Image) and row[scale.value].size == (24, 24)
        no_high += row["high_mag"] is None
    assert no_high == 15


def test_image_bytes_are_stored_verbatim(real_build) -> None:
    val = load_dataset(str(real_build["out"]), split="validation", cache_dir=str(real_build["cache"]))
    raw = val.cast_column("low_mag", ImageFeature(decode=False)).cast_column("high_mag", ImageFeature(decode=False))
    for row in raw:
        assert row["low_mag"]["bytes"] == (real_build["images"] / row["low_mag_path"]).read_bytes()
        if row["high_mag_path"] is not None:
            assert row["high_mag"]["bytes"] == (real_build["images"] / row["high_mag_path"]).read_bytes()


def test_card_yaml_checksums_and_layout(real_build) -> None:
    out = real_build["out"]
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "README.md", "checksums.sha256", "data/validation-00000-of-00001.parquet"]
    text = (out / "README.md").read_text()
    _, header, body = text.split("---\n", 2)
    meta = yaml.safe_load(header)
    assert meta["configs"] == [{"config_name": "default",
                                "data_files": [{"split": "validation", "path": "data/validation-*"}]}]
    assert meta["dataset_info"]["splits"] == [{"name": "validation", "num_bytes": meta["dataset_info"]["splits"][0][
        "num_bytes"], "num_examples": 450}]
    assert meta["license"] == "unknown" and "visual-question-answering" in meta["task_categories"]
    for dim in DIMENSIONS:
        assert f"| `{dim.code}` | {dim.value} | 90 |" in body
    assert "| validation | 450 | 450 | 450 | 435 | 1 | `val.json` |" in body
    assert "@article{phan2026scalevqa" in body and "## License" in body
    assert verify_checksums(out) == []
    listed = dict(line.split("  ")[::-1] for line in (out / "checksums.sha256").read_text().splitlines())
    for rel, digest in listed.items():
        assert hashlib.sha256((out / rel).read_bytes()).hexdigest() == digest


def test_builder_class_gives_the_same_rows(real_build) -> None:
    builder = ScaleVQA(data_dir=str(real_build["release"]), images=str(real_build["images"]),
                       cache_dir=str(real_build["cache"] / "builder"))
    builder.download_and_prepare()
    val = builder.as_dataset(split="validation")
    exported = load_dataset(str(real_build["out"]), split="validation", cache_dir=str(real_build["cache"]))
    assert val.features == exported.features
    assert val.num_rows == 450
    plain = val.cast_column("mid_mag", ImageFeature(decode=False))
    ours = exported.cast_column("mid_mag", ImageFeature(decode=False))
    for a, b in zip(plain.select(range(0, 450, 37)), ours.select(range(0, 450, 37)), strict=True):
        assert a["id"] == b["id"] and a["mid_mag"]["bytes"] == b["mid_mag"]["bytes"]
        assert a["options"] == b["options"] and a["answer"] == b["answer"]


def _demo(tmp_path: Path) -> Path:
    make_demo_release(tmp_path / "demo")
    return tmp_path / "demo"


def test_png_release_with_another_naming_scheme_builds(tmp_path) -> None:
    demo = _demo(tmp_path)  # <slide>/rois/<slide>_path1_10x.png, one region without high_mag
    out = tmp_path / "out"
    assert main(["build", "--release", str(demo), "--images", str(demo / "images"), "--out", str(out),
                 "--quiet"]) == 0
    val = load_dataset(str(out), split="validation", cache_dir=str(tmp_path / "cache"))
    assert val.num_rows == 60
    row = val[0]
    assert row["low_mag"].format == "PNG" and row["low_mag_path"].endswith("_10x.png")
    raw = val.cast_column("low_mag", ImageFeature(decode=False))[0]["low_mag"]["bytes"]
    assert raw == (demo / "images" / row["low_mag_path"]).read_bytes()
    assert sum(r is None for r in val["high_mag"]) == 5


def _item(n: int, n_options: int, images: ImageRefs, split: str = "test") -> Item:
    return Item(id=f"{split}-{n:05d}", question=f"q{n}", options=tuple(f"o{k} of {n}" for k in range(n_options)),
                answer="ABCDEFGHIJ"[n % n_options], dimension=DIMENSIONS[n % 5], rationale="r",
                images=images, wsi_name="W", path_id=f"p{n}", split=split, number=n)


def test_three_splits_and_two_to_ten_options(tmp_path) -> None:
    rel = tmp_path / "rel"
    refs = ImageRefs("W/a.png", "W/b.jpg", None)
    splits = {"train": [_item(n, 2 + n % 9, refs, "train") for n in range(1, 12)],
              "val": [_item(1, 10, refs, "validation"), _item(2, 2, refs, "validation")],
              "test": [_item(n, 4, refs) for n in range(1, 4)]}
    for name, items in splits.items():
        write_release(items, rel / f"{name}.jsonl" if name == "train" else rel / f"{name}.json")
        if name == "train":  # write_release writes a JSON array; a .jsonl file wants one object per line
            (rel / "train.jsonl").write_text("\n".join(json.dumps(i.to_release()) for i in items) + "\n")
    (rel / "W").mkdir()
    (rel / "W/a.png").write_bytes(tiny_image("a", "PNG"))
    (rel / "W/b.jpg").write_bytes(tiny_image("b"))
    build_dataset(rel, tmp_path / "out", progress=False)
    ds = load_dataset(str(tmp_path / "out"), cache_dir=str(tmp_path / "cache"))
    assert sorted(ds) == ["test", "train", "validation"]
    assert (ds["train"].num_rows, ds["validation"].num_rows, ds["test"].num_rows) == (11, 2, 3)
    for split, items in (("train", splits["train"]), ("validation", splits["val"])):
        for row, item in zip(ds[split], items, strict=True):
            assert len(row["options"]) == item.n_options
            assert row["options"][row["answer"]] == item.gold_text
            assert row["high_mag"] is None and row["mid_mag"].format == "JPEG"


def test_missing_images_listed_or_allowed(tmp_path, capsys) -> None:
    demo = _demo(tmp_path)
    gone = sorted((demo / "images").rglob("*_40x.png"))[:2]
    for path in gone:
        path.unlink()
    out = tmp_path / "out"
    with pytest.raises(InputError) as exc:
        build_dataset(demo, out, images=demo / "images", progress=False)
    for path in gone:
        assert str(path) in str(exc.value)
    assert "image_path.mid_mag" in str(exc.value) and "val.json:" in str(exc.value)
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    # the CLI says the same and exits 1
    assert main(["build", "--release", str(demo), "--images", str(demo / "images"), "--out", str(out)]) == 1
    assert str(gone[0]) in capsys.readouterr().err
    # allowed: those images become None, with a warning each
    summary = build_dataset(demo, out, images=demo / "images", allow_missing_images=True, progress=False)
    assert sum("image file not found" in p.message for p in summary.warnings) == 10  # 2 triplets × 5 items
    val = load_dataset(str(out), split="validation", cache_dir=str(tmp_path / "cache"))
    assert sum(r is None for r in val["mid_mag"]) == 10
    assert all(p is not None for p in val["mid_mag_path"])  # the release's path is kept


def test_truncated_jpeg_is_an_error_naming_file_item_and_field(tmp_path) -> None:
    rel = tmp_path / "rel"
    items = [_item(n, 4, ImageRefs(f"W/{n}_lo.jpg", f"W/{n}_mid.jpg", f"W/{n}_hi.jpg"), "validation")
             for n in (1, 2)]
    write_release(items, rel / "val.json")
    write_images(items, rel)
    broken = rel / "W/2_mid.jpg"
    broken.write_bytes(broken.read_bytes()[:-40])
    out = tmp_path / "out"
    with pytest.raises(InputError) as exc:
        build_dataset(rel, out, progress=False)
    message = str(exc.value)
    assert str(broken) in message and "truncated JPEG" in message
    assert f"(id {items[1].id})" in message and "image_path.mid_mag" in message
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    # --image-check none stores the bytes as they are
    build_dataset(rel, out, image_check="none", progress=False)
    assert pq.read_table(out / "data/validation-00000-of-00001.parquet").num_rows == 2


def test_image_checks() -> None:
    good_png, good_jpg = tiny_image("x", "PNG"), tiny_image("x")
    assert image_problem(good_png) is None and image_problem(good_jpg, "decode") is None
    assert "truncated JPEG" in image_problem(good_jpg[:-2])
    assert image_problem(good_png[:-20]) is not None  # PNG chunks are checked (missing IEND / CRC)
    assert "not an image" in image_problem(b"hello world")
    assert image_problem(b"") == "empty file"
    assert image_problem(b"garbage", "none") is None


def test_bad_json_is_an_error_with_file_and_line(tmp_path, capsys) -> None:
    rel = tmp_path / "rel"
    rel.mkdir()
    (rel / "val.json").write_text('[\n  {"No": 1, "question": "q",\n  "options": {"A": "x", "B": "y"}, \n')
    out = tmp_path / "out"
    assert main(["build", "--release", str(rel), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "val.json:" in err and "error" in err
    assert not out.exists()
    assert main(["build", "--release", str(tmp_path / "nowhere"), "--out", str(out)]) == 1
    assert "release folder not found" in capsys.readouterr().err


def test_output_is_replaced_only_when_asked_and_ours(tmp_path) -> None:
    demo = _demo(tmp_path)
    out = tmp_path / "out"
    build_dataset(demo, out, images=demo / "images", progress=False)
    with pytest.raises(FileExistsError, match="--overwrite"):
        build_dataset(demo, out, images=demo / "images", progress=False)
    build_dataset(demo, out, images=demo / "images", overwrite=True, progress=False)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("x")
    with pytest.raises(FileExistsError, match="not made by"):
        build_dataset(demo, foreign, images=demo / "images", overwrite=True, progress=False)
    assert (foreign / "keep.txt").exists()
    # a failing rebuild leaves the previous build untouched
    before = (out / "checksums.sha256").read_text()
    next((demo / "images").rglob("*.png")).unlink()
    with pytest.raises(InputError):
        build_dataset(demo, out, images=demo / "images", overwrite=True, progress=False)
    assert (out / "checksums.sha256").read_text() == before and verify_checksums(out) == []


def test_streamed_shards_and_row_groups(tmp_path) -> None:
    demo = _demo(tmp_path)
    out = tmp_path / "out"
    summary = build_dataset(demo, out, images=demo / "images", max_shard_bytes=60_000, row_group=8, progress=False)
    shards = summary.splits["validation"].shards
    assert len(shards) > 1
    assert shards == [f"data/validation-{i:05d}-of-{len(shards):05d}.parquet" for i in range(len(shards))]
    files = [pq.ParquetFile(out / s) for s in shards]
    assert all(f.metadata.row_group(0).num_rows <= 8 for f in files)
    assert sum(f.metadata.num_rows for f in files) == 60
    val = load_dataset(str(out), split="validation", cache_dir=str(tmp_path / "cache"))
    assert val["id"] == [f"val-{n:05d}" for n in range(1, 61)]


def test_checksums_detect_changes(tmp_path) -> None:
    demo = _demo(tmp_path)
    out = tmp_path / "out"
    build_dataset(demo, out, images=demo / "images", progress=False)
    (out / "README.md").write_text((out / "README.md").read_text() + "edited\n")
    (out / "extra.txt").write_text("x")
    problems = verify_checksums(out)
    assert any("README.md has changed" in p for p in problems) and any("extra.txt is not listed" in p
                                                                       for p in problems)


def test_dimension_class_label_matches_core() -> None:
    names = features()["dimension"].names
    assert [Dimension(n) for n in names] == list(DIMENSIONS)


def test_demo_builds_its_release_into_a_dataset(tmp_path, capsys) -> None:
    """The demo's step 4 (the whole demo runs in tests/test_cli.py)."""
    out = tmp_path / "demo"
    paths = write_demo(out)
    assert demo_step(out, paths) == 0
    text = capsys.readouterr().out
    assert "== 4. scale-vqa build" in text and "60 rows" in text and "id val-00001, 3 images" in text
    assert verify_checksums(out / "dataset") == []
    assert load_dataset(str(out / "dataset"), split="validation", cache_dir=str(tmp_path / "c")).num_rows == 60


def test_demo_step_is_skipped_without_the_data_extra(tmp_path, capsys, monkeypatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pyarrow" else real(name, *a))
    with pytest.raises(MissingExtraError) as exc:  # the demo runner prints it as "skipped: …" and goes on
        demo_step(tmp_path, {"release": tmp_path / "release" / "val.json", "images": tmp_path / "images"})
    assert str(exc.value).startswith("building the dataset needs the data extra (pyarrow not installed): "
                                     'python -m pip install ".[data]"')
    assert not (tmp_path / "dataset").exists()


def test_audit_hard_subset_becomes_a_config(tmp_path, capsys) -> None:
    """The audit's unflagged items, built as an extra config beside `default` (a vision-indispensable set)."""
    pytest.importorskip("sklearn")
    demo = _demo(tmp_path)
    subset = tmp_path / "hard.json"
    assert main(["audit", str(demo / "val.json"), "--adversaries", "heuristics,learned", "--folds", "3",
                 "--permutations", "200", "--out", str(tmp_path / "audit"), "--quiet",
                 "--write-subset", str(subset)]) == 0
    construction = json.loads((tmp_path / "hard.construction.json").read_text())
    out = tmp_path / "out"
    assert main(["build", "--release", str(demo), "--images", str(demo / "images"), "--out", str(out), "--quiet",
                 "--config", f"hard={subset}"]) == 0
    hard = load_dataset(str(out), "hard", split="validation", cache_dir=str(tmp_path / "cache"))
    full = load_dataset(str(out), split="validation", cache_dir=str(tmp_path / "cache"))
    assert sorted(hard["id"]) == sorted(construction["kept_ids"])
    assert full.num_rows == 60 and hard.num_rows == construction["n_kept"] < 60
    assert hard.features == full.features and hard[0]["low_mag"] is not None
    card = (out / "README.md").read_text()
    assert "config_name: hard" in card and "### `hard`" in card and "scale-vqa audit --write-subset" in card
    assert verify_checksums(out) == []
    bad = tmp_path / "bad.json"
    bad.write_text(subset.read_text().replace('"id": "val-', '"id": "zzz-', 1))
    capsys.readouterr()
    assert main(["build", "--release", str(demo), "--images", str(demo / "images"), "--out", str(tmp_path / "o2"),
                 "--quiet", "--config", f"hard={bad}"]) == 1
    assert "not in the release" in capsys.readouterr().err and not (tmp_path / "o2").exists()
    for spec, message in (("Bad Name=x", "config name 'Bad Name'"), ("hard", "use NAME=FILE")):
        with pytest.raises(SystemExit) as exc:  # a malformed argument value is a usage error
            main(["build", "--release", str(demo), "--out", str(tmp_path / "o3"), "--config", spec])
        assert exc.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "o3").exists()


def test_built_folder_keeps_the_umask_modes(tmp_path, umask_022) -> None:
    demo = _demo(tmp_path)
    out = tmp_path / "out"
    build_dataset(demo, out, images=demo / "images", progress=False)
    assert umask_022(out) == {"dirs": {0o755}, "files": {0o644}}


def test_build_without_the_data_extra_is_a_usage_error(tmp_path, capsys, monkeypatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pyarrow" else real(name, *a))
    assert main(["build", "--release", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "pyarrow" in err and 'pip install ".[data]"' in err and not (tmp_path / "out").exists()
