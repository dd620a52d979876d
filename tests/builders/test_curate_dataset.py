"""The ``matched`` config: ``scale-vqa build --config matched=DIR/curated.json`` holds the curated options (images
and everything else from the release), and the ``scale_vqa_matched`` tasks read it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scale_vqa.cli import main
from scale_vqa.release import load_items, write_release
from tests.builders.curate_data import make_items


def _release(root: Path) -> None:
    """The synthetic items as a release folder with a tiny JPEG per image path."""
    from PIL import Image

    items = make_items(8)
    write_release(items, root / "val.json")
    for it in items:
        for _, rel in it.images:
            path = root / "images" / str(rel)
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.new("RGB", (16, 16), (len(str(rel)) * 7 % 255, 80, 120)).save(path, "JPEG")


def test_matched_config_holds_the_curated_options_and_the_tasks_read_it(tmp_path: Path) -> None:
    pytest.importorskip("datasets")
    pytest.importorskip("sklearn")
    from datasets import load_dataset

    from evaluator import docs

    demo = tmp_path / "demo"
    _release(demo)
    cur = tmp_path / "cur"
    assert main(["curate", str(demo / "val.json"), "--out", str(cur), "--steps", "20", "--no-embed", "--no-verify",
                 "--quiet"]) == 0
    curated = {it.id: it for it in load_items(cur / "curated.json")}
    out = tmp_path / "built"
    assert main(["build", "--release", str(demo), "--images", str(demo / "images"), "--out", str(out), "--quiet",
                 "--config", f"matched={cur / 'curated.json'}"]) == 0
    matched = load_dataset(str(out), "matched", split="validation", cache_dir=str(tmp_path / "cache"))
    assert matched.num_rows == len(curated) == 40
    src = docs.source_from({"scale_vqa_source": str(out), "scale_vqa_split": "validation", "scale_vqa_matched": True})
    assert {it.id: (it.options, it.answer) for it in src.items} == {
        i: (it.options, it.answer) for i, it in curated.items()}
    assert docs.make_docs(src, "standard")[0]["images"]
    card = (out / "README.md").read_text()
    assert "### `matched`" in card and "scale-vqa curate" in card and "region groups" in card
    from_file = docs.open_source(str(demo / "val.json"), "validation", subset=str(cur / "curated.json"))
    assert {it.id: it.options for it in from_file.items} == {i: it.options for i, it in curated.items()}
    raw = json.loads((cur / "curated.json").read_text())
    raw[0]["options"]["A"], raw[0]["options"]["B"] = raw[0]["options"]["B"], raw[0]["options"]["A"]
    raw[0]["answer"] = "B" if raw[0]["answer"] == "A" else ("A" if raw[0]["answer"] == "B" else raw[0]["answer"])
    raw[1]["options"][raw[1]["answer"]] = "a gold that the release does not have"
    (tmp_path / "bad.json").write_text(json.dumps(raw))
    assert main(["build", "--release", str(demo), "--images", str(demo / "images"), "--out", str(tmp_path / "o2"),
                 "--quiet", "--config", f"matched={tmp_path / 'bad.json'}"]) == 1
    assert not (tmp_path / "o2").exists()



def test_a_rebuilt_folder_is_never_read_from_a_stale_cache(tmp_path: Path) -> None:
    """``datasets`` keys a local folder's cache by its name, config and file names: ``scale_vqa.load`` must still
    see a rebuild (here: the same folder built again with another curation, same sizes and names)."""
    pytest.importorskip("datasets")
    pytest.importorskip("sklearn")
    from scale_vqa.loading import load

    demo = tmp_path / "demo"
    _release(demo)
    out = tmp_path / "built"
    for seed in (0, 1):
        cur = tmp_path / f"cur{seed}"
        assert main(["curate", str(demo / "val.json"), "--out", str(cur), "--steps", "20", "--no-embed",
                     "--no-verify", "--quiet", "--seed", str(seed)]) == 0
        assert main(["build", "--release", str(demo), "--images", str(demo / "images"), "--out", str(out),
                     "--quiet", "--overwrite", "--config", f"matched={cur / 'curated.json'}"]) == 0
        rows = {r["id"]: tuple(r["options"]) for r in load("validation", source=out, name="matched")}
        assert rows == {it.id: it.options for it in load_items(cur / "curated.json")}
