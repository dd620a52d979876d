"""The two slide backends agree: the same level tables on the synthetic Aperio and generic TIFF slides, the same
decoded pixels for every extracted view, the same handling of damaged slides; ``auto`` picks as documented."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import openslide
import pytest
import tifffile
import tiffslide
from PIL import Image

import builders.wsi.tiffslide_backend as tiff_backend
from builders.wsi.extract import MANIFEST, REPORT, ExtractConfig, extract
from builders.wsi.slide import SlideError, UnsupportedSlideError, open_slide
from builders.wsi.tiffslide_backend import jpeg_complete
from scale_vqa.cli import main
from tests.helpers.synthetic_slide import shared_slide

SIZE = 64


@pytest.fixture(scope="module")
def slides(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("backend-slides")
    aperio = shared_slide("aperio.svs", 3072, 2304, kind="aperio", base_mag=20, mpp=0.5, seed=1)
    garbled, cut = bytearray(aperio.read_bytes()), bytearray(aperio.read_bytes())
    with tifffile.TiffFile(aperio) as tif:  # damage every level-0 tile; the overview levels stay fine
        for offset, count in zip(tif.pages[0].dataoffsets, tif.pages[0].databytecounts, strict=True):
            garbled[offset + 2:offset + count] = b"\x5a" * (count - 2)  # not JPEG data at all
            cut[offset + count // 2:offset + count] = bytes(count - count // 2)  # second half zeroed: libjpeg
            # alone would only warn and decode grey
    (d / "tiles.svs").write_bytes(bytes(garbled))
    (d / "cut.svs").write_bytes(bytes(cut))
    (d / "truncated.svs").write_bytes(aperio.read_bytes()[:len(garbled) * 2 // 3])
    (d / "garbage.svs").write_bytes(b"II*\x00" + b"\x00garbage" * 200)
    tifffile.imwrite(d / "stripped.tif", np.full((600, 800, 3), 200, np.uint8), photometric="rgb")
    return {
        "aperio": aperio,
        "generic": shared_slide("generic.tif", 2560, 2048, kind="generic", mpp=0.5, seed=2),
        "fractional": shared_slide("fractional.tif", 2561, 1923, kind="generic", mpp=0.5, seed=3),
        "nometa": shared_slide("nometa.tif", 2048, 1536, kind="generic", mpp=None, seed=4),
        "tiles": d / "tiles.svs", "cut": d / "cut.svs", "truncated": d / "truncated.svs", "garbage": d / "garbage.svs",
        "stripped": d / "stripped.tif",
    }


@pytest.mark.parametrize("name", ["aperio", "generic", "fractional"])
def test_both_readers_report_the_same_level_table(slides, name) -> None:
    with openslide.OpenSlide(slides[name]) as o, tiffslide.TiffSlide(slides[name]) as t:
        assert o.level_count == t.level_count >= 3
        assert o.level_dimensions == t.level_dimensions
        assert o.level_downsamples == pytest.approx(t.level_downsamples, rel=1e-12)
        if name == "aperio":  # the Aperio layout: thumbnail at page 1, label and macro pages after the levels
            assert sorted(o.associated_images) == sorted(t.associated_images) == ["label", "macro", "thumbnail"]
            assert o.associated_images["thumbnail"].size == t.associated_images["thumbnail"].size
            assert o.properties["openslide.objective-power"] == "20" and t.properties["tiffslide.objective-power"] == 20
    ours = [open_slide(slides[name], b) for b in ("openslide", "tiffslide")]
    assert ours[0].level_dimensions == ours[1].level_dimensions
    assert ours[0].level_downsamples == ours[1].level_downsamples
    assert (ours[0].vendor, ours[0].objective_power, ours[0].mpp) == (ours[1].vendor, ours[1].objective_power,
                                                                      ours[1].mpp)
    for slide in ours:
        slide.close()


def test_tiffslide_backend_reads_what_tiffslide_reads(slides) -> None:
    """The backend's tile reader (tifffile decode + tile cache) gives TiffSlide.read_region's pixels."""
    ours = open_slide(slides["aperio"], "tiffslide")
    with tiffslide.TiffSlide(slides["aperio"]) as ts:
        for level, (x, y, w, h) in [(0, (37, 501, 300, 200)), (1, (700, 10, 257, 255)), (2, (0, 0, 384, 288))]:
            ds = int(ts.level_downsamples[level])
            expected = ts.read_region((x * ds, y * ds), level, (w, h), as_array=True)
            assert np.array_equal(np.asarray(ours.read_level(level, x, y, w, h)), expected)
            assert np.array_equal(np.asarray(ours.read_level(level, x, y, w, h)), expected)  # from the cache
    ours.close()


def test_auto_picks_tiffslide_for_aperio_and_generic_tiff_and_openslide_otherwise(slides, monkeypatch) -> None:
    for name in ("aperio", "generic"):
        with open_slide(slides[name]) as slide:
            assert slide.backend == "tiffslide"
    real = openslide.OpenSlide.detect_format
    monkeypatch.setattr(openslide.OpenSlide, "detect_format", lambda path: "trestle")  # a vendor tifffile misses
    with open_slide(slides["generic"]) as slide:
        assert slide.backend == "openslide"
    monkeypatch.setattr(openslide.OpenSlide, "detect_format", real)
    monkeypatch.setattr(tiff_backend, "FAITHFUL", ("generic-tiff",))  # as for NDPI, SCN, BIF …
    with open_slide(slides["aperio"]) as slide:
        assert slide.backend == "openslide" and slide.vendor == "aperio"
    with pytest.raises(UnsupportedSlideError, match="aperio slides are read with OpenSlide"):
        tiff_backend.TiffSlideSlide(slides["aperio"], strict=True)
    with open_slide(slides["aperio"], "tiffslide") as slide:  # asked for by name: read anyway
        assert slide.backend == "tiffslide"
    monkeypatch.setitem(sys.modules, "tiffslide", None)  # tiffslide not installed: auto falls back to OpenSlide
    with open_slide(slides["generic"]) as slide:
        assert slide.backend == "openslide"


def test_a_file_neither_backend_reads_is_named_so(slides) -> None:
    with pytest.raises(UnsupportedSlideError, match="not a whole-slide image OpenSlide or tiffslide can read"):
        open_slide(slides["stripped"])
    with pytest.raises(UnsupportedSlideError, match="not a tiled"):
        open_slide(slides["stripped"], "tiffslide")
    with pytest.raises(UnsupportedSlideError, match="not a whole-slide image OpenSlide can read"):
        open_slide(slides["stripped"], "openslide")
    with pytest.raises(ValueError, match="backend must be one of"):
        open_slide(slides["aperio"], "pillow")


@pytest.fixture(scope="module")
def both(slides, tmp_path_factory) -> dict[str, Path]:
    """The same extraction, as PNG, with each backend."""
    root = tmp_path_factory.mktemp("both")
    outs = {}
    for backend in ("openslide", "tiffslide"):
        outs[backend] = root / backend
        extract([slides["aperio"], slides["generic"]], outs[backend],
                ExtractConfig(size=SIZE, regions=4, image_format="png", backend=backend), progress=False)
    return outs


def test_both_backends_write_identical_pixels_for_every_view(both) -> None:
    files = sorted(p.relative_to(both["openslide"]) for p in both["openslide"].rglob("*.png"))
    assert len(files) == 2 * 4 * 3
    assert files == sorted(p.relative_to(both["tiffslide"]) for p in both["tiffslide"].rglob("*.png"))
    for rel in files:
        with Image.open(both["openslide"] / rel) as a, Image.open(both["tiffslide"] / rel) as b:
            pixels = np.asarray(a)
            assert np.array_equal(pixels, np.asarray(b)), rel
        assert pixels.std() > 0 or "_1x" in str(rel)  # views of tissue, not blank images compared
    assert (both["openslide"] / MANIFEST).read_text() == (both["tiffslide"] / MANIFEST).read_text()


def test_the_report_records_each_slides_backend(both) -> None:
    for backend, out in both.items():
        report = json.loads((out / REPORT).read_text())
        assert report["config"]["backend"] == backend
        assert [(s["backend"], s["vendor"], s["status"]) for s in report["slides"]] == [
            (backend, "aperio", "ok"), (backend, "generic-tiff", "ok")]
        assert report["slides"][0]["level_downsamples"] == [1.0, 2.0, 4.0, 8.0]


@pytest.mark.parametrize(("backend", "workers"), [("openslide", 1), ("tiffslide", 2), ("auto", 1)])
def test_damaged_slides_are_reported_and_skipped_and_the_others_kept(slides, tmp_path, backend, workers) -> None:
    names = ["tiles", "cut", "truncated", "nometa", "garbage", "generic"]
    out = tmp_path / "out"
    summary = extract([slides[n] for n in names], out, ExtractConfig(size=SIZE, regions=2, backend=backend),
                      workers=workers, progress=False)
    status = {p.name: p for p in summary.slides}
    assert status["tiles"].status == "skipped" and status["tiles"].error.startswith("read failed")
    assert status["cut"].status == "skipped" and status["cut"].error.startswith("read failed")
    assert status["truncated"].status == "skipped"
    assert status["truncated"].error.startswith(f"{slides['truncated']}: ")
    assert "--base-mag" in status["nometa"].error and status["garbage"].status == "skipped"
    assert status["generic"].status == "ok"
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["generic"]
    assert [r["extra_info"]["wsi_name"] for r in json.loads((out / MANIFEST).read_text())] == ["generic"] * 2
    report = json.loads((out / REPORT).read_text())
    assert [s["status"] for s in report["slides"]] == ["skipped"] * 5 + ["ok"]


def test_jpeg_completeness_check(slides) -> None:
    with tifffile.TiffFile(slides["aperio"]) as tif:
        page = tif.pages[0]
        tif.filehandle.seek(page.dataoffsets[0])
        tile = tif.filehandle.read(page.databytecounts[0])
    assert jpeg_complete(tile) and jpeg_complete(tile + bytes(6))  # zero padding after the end is allowed
    half = len(tile) // 2
    assert not jpeg_complete(tile[:half])  # cut short
    assert not jpeg_complete(tile[:half] + bytes(len(tile) - half))  # zero-filled
    assert not jpeg_complete(tile[:half] + b"\xff\xd9" + tile[half + 2:])  # a stray marker inside the data
    assert not jpeg_complete(b"\x5a" * 100) and not jpeg_complete(tile[:40] + b"\xff\xd9")


def test_a_truncated_file_is_refused_when_opened(slides) -> None:
    with pytest.raises(SlideError, match=r"unreadable slide: (damaged or truncated TIFF|file truncated)"):
        open_slide(slides["truncated"], "tiffslide")
    with pytest.raises(SlideError, match="not a whole-slide image OpenSlide can read"):
        open_slide(slides["truncated"], "openslide")


def test_cli_backend_choice_and_its_missing_extra(slides, tmp_path, capsys, monkeypatch) -> None:
    out = tmp_path / "cli"
    assert main(["extract", str(slides["generic"]), "--out", str(out), "--size", str(SIZE), "--regions", "1",
                 "--workers", "1", "--backend", "openslide", "--quiet"]) == 0
    assert "generic.tif: 1 triplet(s), base 20× (mpp), read with openslide" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:
        main(["extract", str(slides["generic"]), "--out", str(tmp_path / "x"), "--backend", "bioformats"])
    assert exit_.value.code == 2 and "invalid choice: 'bioformats'" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "tiffslide", None)
    assert main(["extract", str(slides["generic"]), "--out", str(tmp_path / "y"), "--backend", "tiffslide"]) == 2
    assert "wsi" in capsys.readouterr().err and not (tmp_path / "y").exists()
