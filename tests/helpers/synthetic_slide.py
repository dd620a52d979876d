"""Synthetic pyramidal whole-slide images for tests and benchmarks (needs tifffile, imagecodecs, scikit-image).

The texture is scikit-image's bundled immunohistochemistry sample (real tissue) recoloured to H&E-like tones
(haematoxylin kept, DAB shown as eosin), mirrored into a seamless 1024 px tile. Tissue is a few ellipses on white
glass. Every pyramid level is drawn from the same picture (texture downsampled by the level's factor), tile by tile,
so slides of any size are written in flat memory. Two layouts that OpenSlide and tiffslide both read:

- ``aperio``: the Aperio SVS layout (BigTIFF): page 0 is level 0 (tiled JPEG, description
  ``Aperio …|AppMag = 40|MPP = 0.25``), page 1 a stripped JPEG thumbnail, then the reduced levels (tiled JPEG,
  NewSubfileType 0, description ``… -> WxH``), then the label (stripped LZW, NewSubfileType 1, ``label WxH``) and
  the macro (stripped JPEG, NewSubfileType 9, ``macro WxH``) pages;
- ``generic``: a generic tiled TIFF (resolution tags give the MPP; no objective power), or no metadata at all
  with ``mpp=None``; reduced levels are tiled JPEG pages with NewSubfileType=REDUCEDIMAGE in the main IFD chain.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

PERIOD = 1024


@cache
def he_texture() -> np.ndarray:
    """A seamless 1024 × 1024 RGB H&E-like texture from skimage's IHC sample."""
    from skimage import data
    from skimage.color import hed2rgb, rgb2hed

    hed = rgb2hed(data.immunohistochemistry())
    he = hed2rgb(np.stack([hed[..., 0] * 1.3, hed[..., 2] * 1.6, np.zeros_like(hed[..., 0])], axis=-1))
    tile = (np.clip(he, 0, 1) * 255).astype(np.uint8)
    half = np.concatenate([tile, tile[:, ::-1]], axis=1)
    return np.ascontiguousarray(np.concatenate([half, half[::-1]], axis=0))


@cache
def _texture_at(ds: int) -> np.ndarray:
    tex = he_texture().astype(np.float32)
    n = PERIOD // ds
    return tex.reshape(n, ds, n, ds, 3).mean(axis=(1, 3)).astype(np.uint8)


@dataclass(frozen=True)
class Ellipse:
    cx: float
    cy: float
    rx: float
    ry: float


def tissue_ellipses(width: int, height: int, seed: int = 0, n: int = 4) -> list[Ellipse]:
    """A few overlapping blobs of tissue covering roughly half the slide."""
    rng = np.random.default_rng(seed)
    return [Ellipse(width * rng.uniform(0.3, 0.7), height * rng.uniform(0.3, 0.7),
                    width * rng.uniform(0.15, 0.32), height * rng.uniform(0.15, 0.32)) for _ in range(n)]


def _relation(e: Ellipse, x0: float, y0: float, x1: float, y1: float) -> int:
    """1 when the rectangle lies inside the ellipse, -1 when outside it, 0 when it crosses the edge."""
    corners = [((x - e.cx) / e.rx) ** 2 + ((y - e.cy) / e.ry) ** 2 for x in (x0, x1) for y in (y0, y1)]
    if max(corners) <= 1.0:
        return 1
    nx = min(max(e.cx, x0), x1)  # the rectangle's point nearest the centre, in ellipse-normalised distance
    ny = min(max(e.cy, y0), y1)
    return -1 if ((nx - e.cx) / e.rx) ** 2 + ((ny - e.cy) / e.ry) ** 2 > 1.0 else 0


def _tiles(width: int, height: int, ds: int, tile: int, blobs: list[Ellipse]) -> Iterator[np.ndarray]:
    tex = _texture_at(ds)
    period = tex.shape[0]
    white = np.full((tile, tile, 3), 255, dtype=np.uint8)
    for ty in range(0, height, tile):
        ys = np.arange(ty, ty + tile)
        for tx in range(0, width, tile):
            relations = [_relation(e, tx * ds, ty * ds, (tx + tile) * ds, (ty + tile) * ds) for e in blobs]
            if all(r < 0 for r in relations):
                yield white
                continue
            if period % tile == 0:
                block = tex[ty % period:ty % period + tile, tx % period:tx % period + tile]
            else:
                xs = np.arange(tx, tx + tile)
                block = tex[np.ix_(ys % period, xs % period)]
            if any(r > 0 for r in relations):
                yield block
                continue
            gx, gy = (np.arange(tx, tx + tile)[None, :] + 0.5) * ds, (ys[:, None] + 0.5) * ds
            inside = np.zeros((tile, tile), dtype=bool)
            for e in blobs:
                inside |= ((gx - e.cx) / e.rx) ** 2 + ((gy - e.cy) / e.ry) ** 2 <= 1.0
            out = white.copy()
            out[inside] = block[inside]
            yield out


def _image(width: int, height: int, ds: int, blobs: list[Ellipse], tile: int = 256) -> np.ndarray:
    """A whole (small) picture at downsample `ds`, assembled from its tiles."""
    out = np.empty((-(-height // tile) * tile, -(-width // tile) * tile, 3), dtype=np.uint8)
    tiles = _tiles(width, height, ds, tile, blobs)
    for ty in range(0, height, tile):
        for tx in range(0, width, tile):
            out[ty:ty + tile, tx:tx + tile] = next(tiles)
    return np.ascontiguousarray(out[:height, :width])


def _label(width: int = 240, height: int = 200) -> np.ndarray:
    """A white slide label with a dark bar-code-like stripe pattern."""
    label = np.full((height, width, 3), 255, dtype=np.uint8)
    label[40:160, 20:220:8] = 20
    return label


def write_slide(path: str | Path, width: int, height: int, *, kind: str = "aperio", base_mag: float = 40.0,
                mpp: float | None = 0.25, tile: int = 256, step: int = 2, min_level_side: int = 512,
                quality: int = 80, seed: int = 0) -> Path:
    """Write a synthetic pyramidal slide; returns its path. Level k is ``step**k`` times smaller (floor), down
    to the first level whose longer side is at most `min_level_side` (downsamples capped at 256)."""
    import tifffile

    if kind not in ("aperio", "generic"):
        raise ValueError(f"kind must be aperio or generic, not {kind!r}")
    path = Path(path)
    blobs = tissue_ellipses(width, height, seed)
    levels = [1]
    while max(width, height) // levels[-1] > min_level_side and levels[-1] * step <= 256:
        levels.append(levels[-1] * step)
    jpeg = {"compression": "jpeg", "compressionargs": {"level": quality}, "photometric": "rgb", "metadata": None}
    if kind == "generic":
        extra: dict[str, object] = {"resolution": (1e4 / mpp, 1e4 / mpp), "resolutionunit": "CENTIMETER"} if mpp else {}
        with tifffile.TiffWriter(path) as tw:
            for k, ds in enumerate(levels):
                w, h = max(1, width // ds), max(1, height // ds)
                tw.write(_tiles(w, h, ds, tile, blobs), shape=(h, w, 3), dtype=np.uint8, tile=(tile, tile),
                         subfiletype=1 if k else 0, **jpeg, **(extra if k == 0 else {}))  # type: ignore[arg-type]
        return path
    head = "Aperio Image Library v12.0.15 (scale-vqa synthetic)\r\n"
    base = f"{width}x{height} [0,0 {width}x{height}] ({tile}x{tile})"
    meta = f"|AppMag = {base_mag:g}" + (f"|MPP = {mpp:g}" if mpp else "")
    thumb_ds = 1
    while max(width, height) // thumb_ds > 1024 and thumb_ds < PERIOD:
        thumb_ds *= 2
    tw_, th_ = max(1, width // thumb_ds), max(1, height // thumb_ds)
    with tifffile.TiffWriter(path, bigtiff=True) as tw:
        for k, ds in enumerate(levels):
            w, h = max(1, width // ds), max(1, height // ds)
            size = f" -> {w}x{h}" if k else ""
            tw.write(_tiles(w, h, ds, tile, blobs), shape=(h, w, 3), dtype=np.uint8, tile=(tile, tile), **jpeg,
                     description=f"{head}{base}{size} JPEG/RGB Q={quality}{meta}")  # type: ignore[arg-type]
            if k == 0:  # the thumbnail sits at page 1, right after level 0
                tw.write(_image(tw_, th_, thumb_ds, blobs), rowsperstrip=16, **jpeg,  # type: ignore[arg-type]
                         description=f"{head}{base} -> {tw_}x{th_} JPEG/RGB Q={quality}{meta}")
        label = _label()
        tw.write(label, compression="lzw", photometric="rgb", metadata=None, subfiletype=1, rowsperstrip=16,
                 description=f"{head}label {label.shape[1]}x{label.shape[0]}")
        macro = _image(min(tw_, 640), min(th_, 320), thumb_ds, blobs)
        tw.write(macro, rowsperstrip=16, subfiletype=9, **jpeg,  # type: ignore[arg-type]
                 description=f"{head}macro {macro.shape[1]}x{macro.shape[0]}")
    return path


_SHARED: list[object] = []


@cache
def shared_slide(name: str, width: int, height: int, **kwargs: object) -> Path:
    """:func:`write_slide` once per process for the same arguments (into a temporary folder removed at exit), so
    test modules share their read-only slides. Copy a slide before changing it."""
    import tempfile

    if not _SHARED:
        _SHARED.append(tempfile.TemporaryDirectory(prefix="scale-vqa-slides-"))
    folder = Path(_SHARED[0].name)  # type: ignore[attr-defined]
    return write_slide(folder / name, width, height, **kwargs)  # type: ignore[arg-type]
