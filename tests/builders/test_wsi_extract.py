"""WSI → ROI triplets on synthetic pyramidal slides (Aperio SVS and generic tiled TIFF), read with OpenSlide and
with tiffslide. Backend agreement and the backends' robustness: ``test_wsi_backends.py``."""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from builders.dataset.export import build_dataset
from builders.wsi.extract import MANIFEST, REPORT, ExtractConfig, extract
from builders.wsi.slide import SlideError, base_magnification, open_slide, plan_read, read_view, thumbnail, window_size
from builders.wsi.tissue import choose_regions, otsu_threshold, tissue_mask
from scale_vqa.cli import main
from scale_vqa.dimensions import DIMENSIONS
from scale_vqa.errors import BadInputError
from scale_vqa.release import read_release
from tests.helpers.synthetic_slide import shared_slide

SIZE = 64  # output px; at 20× base the windows are 1280 / 320 / 64 level-0 px
BACKENDS = ("openslide", "tiffslide")


@pytest.fixture(scope="module")
def slides(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("slides")
    bad = d / "corrupt.svs"
    bad.write_bytes(b"II*\x00" + b"\x00garbage" * 200)
    return {
        "aperio": shared_slide("aperio.svs", 3072, 2304, kind="aperio", base_mag=20, mpp=0.5, seed=1),
        "generic": shared_slide("generic.tif", 2560, 2048, kind="generic", mpp=0.5, seed=2),
        "fractional": shared_slide("fractional.tif", 2561, 1923, kind="generic", mpp=0.5, seed=3),
        "nometa": shared_slide("nometa.tif", 2048, 1536, kind="generic", mpp=None, seed=4),
        "corrupt": bad,
    }


@pytest.mark.parametrize("backend", BACKENDS)
def test_fixtures_open_as_pyramids_with_metadata(slides, backend) -> None:
    aperio = open_slide(slides["aperio"], backend)
    assert aperio.vendor == "aperio" and aperio.level_count >= 3 and aperio.backend == backend
    assert aperio.level_downsamples[:3] == (1.0, 2.0, 4.0)
    generic = open_slide(slides["generic"], backend)
    assert generic.vendor == "generic-tiff" and generic.level_count >= 3
    fractional = open_slide(slides["fractional"], backend)
    assert fractional.level_downsamples[1] != 2.0  # odd sizes give fractional downsamples
    assert base_magnification(aperio) == (20.0, "objective-power")
    assert base_magnification(generic) == (20.0, "mpp")
    assert base_magnification(generic, 40) == (40.0, "--base-mag")
    with pytest.raises(SlideError, match="--base-mag"):
        base_magnification(open_slide(slides["nometa"], backend))
    with pytest.raises(SlideError, match=r"unreadable slide|not a whole-slide image"):
        open_slide(slides["corrupt"], backend)
    with pytest.raises(SlideError, match="file not found"):
        open_slide(slides["corrupt"].with_name("absent.svs"), backend)
    for slide in (aperio, generic, fractional):
        slide.close()


@functools.cache
def _level(path: Path, level: int) -> np.ndarray:
    with tifffile.TiffFile(path) as tif:
        return tif.series[0].levels[level].asarray()


def _reference(path: Path, level: int, x: int, y: int, read: int, out: int, ds: float) -> np.ndarray:
    """The same view cut from the level decoded by tifffile (white outside), BOX-resized: no slide reader."""
    arr = _level(path, level)
    lx, ly = round(x / ds), round(y / ds)
    canvas = np.full((read, read, 3), 255, dtype=np.uint8)
    h, w = arr.shape[:2]
    x0, y0, x1, y1 = max(lx, 0), max(ly, 0), min(lx + read, w), min(ly + read, h)
    if x1 > x0 and y1 > y0:
        canvas[y0 - ly:y1 - ly, x0 - lx:x1 - lx] = arr[y0:y1, x0:x1]
    image = Image.fromarray(canvas)
    if read != out:
        image = image.resize((out, out), Image.Resampling.BOX)
    return np.asarray(image)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["aperio", "generic"])
def test_snapped_reads_are_pixel_identical_to_a_reference_read(slides, name, backend) -> None:
    slide = open_slide(slides[name], backend)
    rng = np.random.default_rng(0)
    for mag in (1, 4, 20):  # level 3, 2 and 0 of a 20× slide shown at 64 px
        size = window_size(20, mag, SIZE)
        for _ in range(3):
            x, y = (int(v) for v in rng.integers(0, 1200, 2) + 37)  # origins off every level grid
            image, read = read_view(slide, x, y, size, SIZE)
            assert image.size == (SIZE, SIZE) and image.mode == "RGB"
            assert read.downsample == slide.level_downsamples[read.level]
            assert abs(read.x - x) <= read.downsample / 2 and abs(read.y - y) <= read.downsample / 2
            ref = _reference(slides[name], read.level, read.x, read.y, read.read_size, SIZE, read.downsample)
            assert np.array_equal(np.asarray(image), ref), (name, mag, x, y)
            raw = np.asarray(slide.read_level(read.level, read.level_x, read.level_y, read.read_size,
                                              read.read_size))
            ref_raw = _reference(slides[name], read.level, read.x, read.y, read.read_size, read.read_size,
                                 read.downsample)
            assert np.array_equal(raw, ref_raw)
    slide.close()


def test_fractional_levels_are_exact_with_tiffslide_and_resampled_by_openslide(slides) -> None:
    """The documented case where the backends differ: with a fractional downsample no level-0 integer origin
    lands on the level's grid, so OpenSlide resamples; tiffslide reads the grid as given."""
    path = slides["fractional"]
    tiff, osl = open_slide(path, "tiffslide"), open_slide(path, "openslide")
    level = 2
    ds = tiff.level_downsamples[level]
    assert ds != int(ds) and osl.level_downsamples == tiff.level_downsamples
    with tifffile.TiffFile(path) as tif:
        arr = tif.series[0].levels[level].asarray()
    differs = 0
    for lx, ly in ((3, 5), (17, 11), (40, 30)):
        exact = arr[ly:ly + 64, lx:lx + 64]
        assert np.array_equal(np.asarray(tiff.read_level(level, lx, ly, 64, 64)), exact)
        differs += not np.array_equal(np.asarray(osl.read_level(level, lx, ly, 64, 64)), exact)
    assert differs
    tiff.close()
    osl.close()


def test_level_choice_and_window_sizes(slides) -> None:
    slide = open_slide(slides["fractional"])
    assert window_size(40, 1, 512) == 20480 and window_size(40, 4, 512) == 5120 and window_size(40, 20, 512) == 1024
    # a fractional downsample just above the wanted one is not chosen (ds * 1.0001 only forgives rounding)
    plan = plan_read(slide, 100, 100, round(2 * SIZE), SIZE)
    assert plan.level == 0 and plan.read_size == 2 * SIZE
    ds2 = slide.level_downsamples[2]  # 4.0034: a 256 px window (ds 4.0) must come from level 1 …
    assert plan_read(slide, 100, 100, 4 * SIZE, SIZE).level == 1
    plan = plan_read(slide, 100, 100, math.ceil(ds2 * SIZE), SIZE)  # … a 257 px one from level 2
    assert plan.level == 2 and plan.read_size == SIZE


@pytest.mark.parametrize("backend", BACKENDS)
def test_reads_outside_the_slide_are_white(slides, backend) -> None:
    slide = open_slide(slides["aperio"], backend)
    image, _ = read_view(slide, -4000, -4000, 1280, SIZE)
    assert np.asarray(image).min() == 255
    w, h = slide.dimensions
    edge, read = read_view(slide, w - 640, h - 1000, 1280, SIZE)  # over the corner: partly outside the slide
    assert np.asarray(edge)[:, SIZE // 2 + 1:].min() == 255 and np.asarray(edge)[SIZE * 3 // 4 + 1:].min() == 255
    ref = _reference(slides["aperio"], read.level, read.x, read.y, read.read_size, SIZE, read.downsample)
    assert np.array_equal(np.asarray(edge), ref)
    slide.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_thumbnail_read_in_bands_matches_a_whole_read(slides, backend) -> None:
    slide = open_slide(slides["aperio"], backend)
    whole = thumbnail(slide, min_side=1536)  # level 1 (1536 px), read whole: 1536 × 1152
    banded = thumbnail(slide, min_side=1536, max_pixels=1000, band=100)  # in 100-row bands, each reduced 2×
    assert whole.size == (1536, 1152) and banded.size == (768, 576)
    assert np.array_equal(np.asarray(banded), np.asarray(whole.reduce(2)))


def test_tissue_mask_finds_the_tissue(slides) -> None:
    slide = open_slide(slides["aperio"])
    thumb = thumbnail(slide).resize((512, 384), Image.Resampling.BOX)
    mask = tissue_mask(thumb)
    sat = np.asarray(thumb.convert("HSV"))[..., 1]
    assert 0.2 < mask.mean() < 0.9
    assert (sat[mask] > 40).mean() > 0.95 and (np.asarray(thumb)[~mask].min(axis=-1) > 230).mean() > 0.95
    assert tissue_mask(Image.new("RGB", (64, 64), "white")).sum() == 0
    assert otsu_threshold(np.array([10] * 50 + [200] * 50, dtype=np.uint8)) in range(10, 200)


def test_regions_are_reproducible_on_tissue_and_do_not_overlap() -> None:
    mask = np.zeros((100, 100), dtype=bool)
    mask[20:80, 10:90] = True
    dims, windows = (10_000, 10_000), (2000, 800, 200)
    a = choose_regions(mask, dims, windows, 12, seed=[0, 1])
    assert a == choose_regions(mask, dims, windows, 12, seed=[0, 1])
    assert a != choose_regions(mask, dims, windows, 12, seed=[1, 1])
    assert len(a) == 12
    for i, r in enumerate(a):
        assert 2000 <= r.cy <= 8000 and 1000 <= r.cx <= 9000 and r.tissue >= 0.5
        assert all(abs(r.cx - o.cx) >= 800 or abs(r.cy - o.cy) >= 800 for o in a[:i])
    assert choose_regions(np.zeros((10, 10), bool), dims, windows, 3, seed=[0]) == []


@pytest.fixture(scope="module")
def extracted(slides, tmp_path_factory) -> dict[str, object]:
    out = tmp_path_factory.mktemp("extract") / "rois"
    paths = [slides["aperio"], slides["corrupt"], slides["generic"], slides["nometa"],
             slides["corrupt"].with_name("absent.svs")]
    summary = extract(paths, out, ExtractConfig(size=SIZE, regions=4), workers=2, progress=False)
    return {"out": out, "summary": summary, "paths": paths}


def test_extract_writes_triplets_and_a_manifest(extracted) -> None:
    out: Path = extracted["out"]  # type: ignore[assignment]
    report = json.loads((out / REPORT).read_text())
    status = {Path(s["path"]).name: (s["status"], s["error"]) for s in report["slides"]}
    assert status["aperio.svs"][0] == "ok" and status["generic.tif"][0] == "ok"
    assert status["corrupt.svs"][0] == "skipped"
    assert status["corrupt.svs"][1].startswith(f"{extracted['paths'][1]}: unreadable slide: damaged or truncated")
    backends = {Path(s["path"]).name: (s["backend"], s["vendor"]) for s in report["slides"]}
    assert backends["aperio.svs"] == ("tiffslide", "aperio")
    assert backends["generic.tif"] == ("tiffslide", "generic-tiff")
    assert report["config"]["backend"] == "auto"
    assert "--base-mag" in status["nometa.tif"][1] and "file not found" in status["absent.svs"][1]
    records = json.loads((out / MANIFEST).read_text())
    assert [r["extra_info"]["wsi_name"] for r in records] == ["aperio"] * 4 + ["generic"] * 4
    assert len({r["extra_info"]["path_id"] for r in records}) == 8
    assert sorted(p.name for p in out.iterdir()) == [".scale-vqa-extract", "aperio", "extract_report.json",
                                                     "generic", "manifest.json"]
    for rec in records:
        paths = rec["image_path"]
        assert list(paths) == ["low_mag", "mid_mag", "high_mag"]
        roi = rec["extra_info"]["roi"]
        cx, cy = roi["center"]
        for scale, rel in paths.items():
            assert not Path(rel).is_absolute() and rel.startswith(rec["extra_info"]["wsi_name"] + "/rois/")
            with Image.open(out / rel) as im:
                assert im.size == (SIZE, SIZE) and im.format == "JPEG"
            win = roi["windows"][scale]
            tol = win["level_downsample"] / 2 + 1  # nested: every view has the region's centre
            assert abs(win["x"] + win["size"] / 2 - cx) <= tol and abs(win["y"] + win["size"] / 2 - cy) <= tol
        assert [roi["windows"][s]["size"] for s in paths] == [1280, 320, 64]
        with Image.open(out / paths["high_mag"]) as im:  # the 20× view is tissue, not glass
            assert (np.asarray(im.convert("HSV"))[..., 1] > 40).mean() > 0.4
    for name in ("aperio", "generic"):
        mids = [r["extra_info"]["roi"]["center"] for r in records if r["extra_info"]["wsi_name"] == name]
        for i, (x, y) in enumerate(mids):
            assert all(abs(x - u) >= 320 or abs(y - v) >= 320 for u, v in mids[:i])


def test_one_worker_gives_identical_output(extracted, slides, tmp_path) -> None:
    out: Path = extracted["out"]  # type: ignore[assignment]
    again = tmp_path / "again"
    extract(extracted["paths"], again, ExtractConfig(size=SIZE, regions=4), workers=1, progress=False)  # type: ignore
    assert (again / MANIFEST).read_text() == (out / MANIFEST).read_text()
    for path in out.rglob("*.jpg"):
        assert (again / path.relative_to(out)).read_bytes() == path.read_bytes()
    other = tmp_path / "other_seed"
    extract([slides["aperio"]], other, ExtractConfig(size=SIZE, regions=4, seed=7), progress=False)
    centres = [r["extra_info"]["roi"]["center"] for r in json.loads((other / MANIFEST).read_text())]
    assert centres != [r["extra_info"]["roi"]["center"] for r in json.loads((out / MANIFEST).read_text())][:4]


def test_manifest_plus_mcq_fields_is_a_release_that_builds(extracted, tmp_path) -> None:
    from datasets import load_dataset

    out: Path = extracted["out"]  # type: ignore[assignment]
    records = json.loads((out / MANIFEST).read_text())
    release = []
    for rec in records:  # what the MCQ step adds: five questions per region, one per dimension
        for dim in DIMENSIONS:
            release.append({**rec, "No": len(release) + 1, "question": f"{dim.value} question?",
                            "options": {"A": "yes", "B": "no", "C": "maybe", "D": "never"}, "answer": "A",
                            "rationale": "synthetic",
                            "extra_info": {**rec["extra_info"], "question_type": dim.code}})
    mcq = tmp_path / "mcq"
    mcq.mkdir()
    (mcq / "val.json").write_text(json.dumps(release))
    result = read_release(mcq / "val.json", image_root=out)
    assert result.ok and not result.report.problems and len(result.items) == 40
    build_dataset(mcq, tmp_path / "ds", images=out, progress=False)
    val = load_dataset(str(tmp_path / "ds"), split="validation", cache_dir=str(tmp_path / "cache"))
    assert val.num_rows == 40 and val[0]["high_mag"].size == (SIZE, SIZE)


def test_cli_extract_reports_skips_and_fails_when_nothing_works(slides, tmp_path, capsys) -> None:
    out = tmp_path / "cli"
    assert main(["extract", str(slides["nometa"]), str(slides["corrupt"]), "--out", str(out), "--size", str(SIZE),
                 "--regions", "2", "--base-mag", "20", "--workers", "1", "--format", "png", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "nometa.tif: 2 triplet(s), base 20× (--base-mag)" in captured.out
    assert "corrupt.svs: skipped" in captured.err
    assert len(list(out.rglob("*.png"))) == 6
    assert main(["extract", str(slides["nometa"]), "--out", str(out), "--size", str(SIZE)]) == 1
    assert "--overwrite" in capsys.readouterr().err
    bad = tmp_path / "bad"
    assert main(["extract", str(slides["corrupt"]), "--out", str(bad), "--quiet"]) == 1
    assert "no slide could be extracted" in capsys.readouterr().err
    assert not bad.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_cli_extract_bad_values_are_usage_errors(slides, tmp_path, capsys) -> None:
    for bad in (["--size", "4"], ["--regions", "0"], ["--min-tissue", "2"], ["--quality", "0"]):
        assert main(["extract", str(slides["nometa"]), "--out", str(tmp_path / "o"), *bad]) == 2
        assert "need --size >= 8" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_extract_output_keeps_the_umask_modes(slides, tmp_path, umask_022) -> None:
    out = tmp_path / "rois"
    extract([slides["nometa"]], out, ExtractConfig(size=SIZE, regions=1, base_mag=20), progress=False)
    assert umask_022(out) == {"dirs": {0o755}, "files": {0o644}}


def test_extract_keeps_a_folder_made_at_out_meanwhile_and_refuses_a_concurrent_run(slides, tmp_path,
                                                                                      monkeypatch) -> None:
    import builders.wsi.extract as module

    out = tmp_path / "rois"
    original = module._read_all
    seen: list[str] = []

    def read_all(*args, **kwargs):
        if seen:  # the nested run got this far (the old code): let it write, and let the test fail
            return original(*args, **kwargs)
        seen.append("paused")
        with pytest.raises(BadInputError, match="another run is writing it"):
            extract([slides["nometa"]], out, ExtractConfig(size=SIZE, regions=1, base_mag=20), progress=False)
        seen.append("refused")
        out.mkdir()
        (out / "theirs.txt").write_text("keep")
        return original(*args, **kwargs)

    monkeypatch.setattr(module, "_read_all", read_all)
    with pytest.raises(BadInputError, match="appeared while this run was writing it"):
        extract([slides["nometa"]], out, ExtractConfig(size=SIZE, regions=1, base_mag=20), progress=False)
    assert seen == ["paused", "refused"] and [p.name for p in out.iterdir()] == ["theirs.txt"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
