"""`scale-vqa build` never leaks a file from outside the image folder and never clobbers an output it did not
check: symlinks out are refused, concurrent builds to one OUT cannot both win, a folder that appears at OUT during
the build is kept, `--overwrite` is asked again at the end, and killed builds' temporary folders are cleaned up."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

import builders.dataset.export as export
from builders.dataset.export import build_dataset
from scale_vqa.cli import main
from scale_vqa.dimensions import DIMENSIONS
from scale_vqa.errors import BadInputError
from scale_vqa.item import ImageRefs, Item
from scale_vqa.problems import InputError
from scale_vqa.release import write_release
from tests.builders.test_dataset_build import tiny_image, write_images


def _release(tmp_path: Path) -> tuple[Path, list[Item]]:
    """Two items with JPEG triplets under ``rel/W/`` (images beside the split file)."""
    rel = tmp_path / "rel"
    items = [Item(id=f"validation-{n:05d}", question=f"q{n}", options=("x", "y", "z"), answer="A",
                  dimension=DIMENSIONS[n], rationale="r", images=ImageRefs(f"W/{n}_lo.jpg", f"W/{n}_mid.jpg",
                                                                           f"W/{n}_hi.jpg"),
                  wsi_name="W", path_id=f"p{n}", split="validation", number=n) for n in (1, 2)]
    write_release(items, rel / "val.json")
    write_images(items, rel)
    return rel, items


def _no_hidden(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("check", ["fast", "decode", "none"])
def test_a_symlink_out_of_the_image_folder_is_refused_in_every_check_mode(tmp_path, check) -> None:
    rel, items = _release(tmp_path)
    secret = tmp_path / "secret.jpg"  # a real image elsewhere passes every image check; text passes `none`
    secret.write_bytes(tiny_image("secret") if check != "none" else b"root:x:0:0:root:/root:/bin/bash\n")
    link = rel / "W/2_mid.jpg"
    link.unlink()
    link.symlink_to(secret)
    out = tmp_path / "out"
    with pytest.raises(InputError) as exc:
        build_dataset(rel, out, image_check=check, progress=False)
    message = str(exc.value)
    assert "outside the image folder" in message and str(link) in message and str(secret) in message
    assert f"(id {items[1].id})" in message and "image_path.mid_mag" in message and "val.json" in message
    assert not out.exists() and _no_hidden(tmp_path)


def test_a_linked_folder_out_is_refused_and_links_inside_are_fine(tmp_path, capsys) -> None:
    rel, items = _release(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    (rel / "W").rename(elsewhere)
    (rel / "W").symlink_to(elsewhere, target_is_directory=True)
    out = tmp_path / "out"
    assert main(["build", "--release", str(rel), "--out", str(out), "--image-check", "none", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "outside the image folder" in err and f"(id {items[0].id})" in err and "image_path.low_mag" in err
    assert not out.exists()
    # a link that stays inside the image folder is an ordinary file
    (rel / "W").unlink()
    elsewhere.rename(rel / "real")
    (rel / "W").symlink_to(rel / "real", target_is_directory=True)
    assert build_dataset(rel, out, progress=False).n_rows == 2


def _pause_build(monkeypatch, during: Callable[[], None]) -> None:
    """Run `during` inside the first build's atomic block (when its files are written, before the rename)."""
    original = export.write_checksums
    calls: list[int] = []

    def write_checksums(folder: Path) -> None:
        calls.append(1)
        if len(calls) == 1:
            during()
        original(folder)

    monkeypatch.setattr(export, "write_checksums", write_checksums)


def test_two_concurrent_builds_to_one_new_out_one_wins_the_other_fails_clearly(tmp_path, monkeypatch) -> None:
    rel, _ = _release(tmp_path)
    out = tmp_path / "out"
    paused, resume = threading.Event(), threading.Event()

    def hold() -> None:
        paused.set()
        assert resume.wait(60), "the test never resumed the first build"

    _pause_build(monkeypatch, hold)
    first: list[object] = []
    thread = threading.Thread(target=lambda: first.append(build_dataset(rel, out, progress=False)))
    thread.start()
    try:
        assert paused.wait(60), "the first build never reached its pause"
        live = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
        with pytest.raises(BadInputError, match="another run is writing it"):
            build_dataset(rel, out, progress=False)
        assert live and all(p.is_dir() for p in live)  # the live build's temporary folder was left alone
    finally:
        resume.set()
        thread.join(60)
    assert len(first) == 1 and (out / "checksums.sha256").is_file() and _no_hidden(tmp_path)
    assert export.verify_checksums(out) == []


@pytest.mark.parametrize("content", [["keep.txt"], []])
def test_a_folder_created_at_out_during_the_build_is_kept(tmp_path, monkeypatch, content) -> None:
    rel, _ = _release(tmp_path)
    out = tmp_path / "out"

    def create() -> None:
        out.mkdir()
        for name in content:
            (out / name).write_text("theirs")

    _pause_build(monkeypatch, create)
    with pytest.raises(BadInputError, match="appeared while this run was writing it"):
        build_dataset(rel, out, progress=False)
    assert sorted(p.name for p in out.iterdir()) == content and _no_hidden(tmp_path)


def test_overwrite_is_checked_again_before_the_rename(tmp_path, monkeypatch) -> None:
    rel, _ = _release(tmp_path)
    out = tmp_path / "out"
    out.mkdir()  # an empty folder may be replaced with --overwrite …

    def fill() -> None:
        (out / "notes.txt").write_text("written during the build")  # … but not once it holds someone's file

    _pause_build(monkeypatch, fill)
    with pytest.raises(BadInputError, match="not made by `scale-vqa build`"):
        build_dataset(rel, out, overwrite=True, progress=False)
    assert [p.name for p in out.iterdir()] == ["notes.txt"] and _no_hidden(tmp_path)


def test_a_killed_builds_temporary_folder_is_removed_and_reported(tmp_path, capsys) -> None:
    rel, _ = _release(tmp_path)
    out = tmp_path / "out"
    stale = tmp_path / ".out.k1ll3d_9.tmp"  # as mkdtemp names it; its run was killed (no lock is held)
    (stale / "data").mkdir(parents=True)
    (stale / "data/validation-part.parquet").write_bytes(b"half")
    assert main(["build", "--release", str(rel), "--out", str(out), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "removed 1 temporary folder(s)" in err and stale.name in err
    assert not stale.exists() and _no_hidden(tmp_path)
