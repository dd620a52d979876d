"""The ``tiffslide`` backend of :class:`~builders.wsi.slide.Slide`: TIFF-family slides read through tiffslide.

tiffslide opens the file (tifffile underneath), names the format and parses its metadata and level table, as it
does for ``TiffSlide.read_region``. Tiles are read through tifffile's own decoder for the page (imagecodecs:
libjpeg-turbo for JPEG tiles, the same decode tiffslide's zarr store runs) and kept in a per-slide LRU cache of
decoded tiles, so the overlapping low-magnification windows of one slide's regions decode each tile once. A read
takes the level's pixel grid as given (no resampling); pixels outside the level are white, like OpenSlide's
transparent edges composited on white.

With ``strict`` (the ``auto`` choice) only the formats whose layout tiffslide reads as OpenSlide does are taken:
Aperio SVS and generic tiled TIFF; other vendors (NDPI, SCN, BIF …) go to OpenSlide.
"""

from __future__ import annotations

import threading
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from builders.wsi.slide import CACHE_BYTES, Slide, SlideError, UnsupportedSlideError, _positive

if TYPE_CHECKING:
    import numpy as np

FAITHFUL = ("aperio", "generic-tiff")
"""Formats ``auto`` reads with tiffslide."""


class _Level:
    """One pyramid level's tiles: page, geometry, file offsets."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.height, self.width = int(page.imagelength), int(page.imagewidth)
        self.tile_h, self.tile_w = int(page.tilelength), int(page.tilewidth)
        self.across = -(-self.width // self.tile_w)
        self.offsets, self.counts = page.dataoffsets, page.databytecounts
        self.decode = page.decode
        self.tables = {"jpegtables": page.jpegtables, "jpegheader": page.jpegheader}


class TiffSlideSlide(Slide):
    backend = "tiffslide"

    def __init__(self, path: Path, *, strict: bool = False, cache_bytes: int = CACHE_BYTES) -> None:
        import tifffile
        import tiffslide

        self.path = path
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self._slide: Any = tiffslide.TiffSlide(str(path))
                tif = self._slide.ts_tifffile
                self.vendor = tiffslide.TiffSlide.detect_format(str(path)) or "unknown"
                if strict and self.vendor not in FAITHFUL:
                    raise UnsupportedSlideError(f"{path}: {self.vendor} slides are read with OpenSlide")
                props = self._slide.properties
                series = tif.series[int(props["tiffslide.series-index"])]
                pages = [series.levels[k][0] for k in range(len(series.levels))]
                self.level_dimensions = tuple((int(w), int(h)) for w, h in self._slide.level_dimensions)
                self.level_downsamples = tuple(float(d) for d in self._slide.level_downsamples)
        except SlideError:
            self._close_quietly()
            raise
        except tifffile.TiffFileError:
            self._close_quietly()
            raise UnsupportedSlideError(f"{path}: not a whole-slide image tiffslide can read") from None
        except Exception as exc:  # a damaged file can fail anywhere in tifffile's parsing
            self._close_quietly()
            raise SlideError(f"{path}: unreadable slide: {type(exc).__name__}: {exc}") from None
        bad = [k for k, p in enumerate(pages)
               if not p.is_tiled or p.dtype is None or p.dtype.char != "B" or p.samplesperpixel not in (1, 3, 4)
               or (p.samplesperpixel > 1 and p.planarconfig != 1)]
        if bad:
            self._close_quietly()
            raise UnsupportedSlideError(f"{path}: level {bad[0]} is not a tiled 8-bit RGB(A) or grey image; "
                                        "tiffslide reads only tiled slides")
        self.objective_power = _positive(props.get("tiffslide.objective-power"))
        self.mpp = _positive(props.get("tiffslide.mpp-x"))
        self._levels = [_Level(p) for p in pages]
        self._fh = tif.filehandle
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[int, int], np.ndarray | None] = OrderedDict()
        self._cached_bytes = 0
        self._cache_bytes = cache_bytes

    def _close_quietly(self) -> None:
        slide = getattr(self, "_slide", None)
        if slide is not None:
            slide.close()

    def _tile(self, level: _Level, key: tuple[int, int]) -> np.ndarray | None:
        """Decoded tile `key` = (level, index) as (tile_h, tile_w, samples) uint8; None for an empty tile."""
        import numpy as np

        cached = self._cache.get(key, False)
        if cached is not False:
            self._cache.move_to_end(key)
            return cached  # type: ignore[return-value]
        index = key[1]
        offset, count = int(level.offsets[index]), int(level.counts[index])
        tile: np.ndarray | None = None
        if offset and count:
            with self._lock:
                self._fh.seek(offset)
                data = self._fh.read(count)
            if len(data) != count:
                raise SlideError(f"{self.path}: file truncated: tile {index} of a level ends past the end of the file")
            segment, _, _ = level.decode(data, index, **level.tables)
            tile = np.asarray(segment).reshape(segment.shape[-3:])
            self._cached_bytes += tile.nbytes
        self._cache[key] = tile
        while self._cached_bytes > self._cache_bytes and self._cache:
            _, old = self._cache.popitem(last=False)
            self._cached_bytes -= 0 if old is None else old.nbytes
        return tile

    def read_level(self, level: int, x: int, y: int, width: int, height: int) -> np.ndarray:
        import numpy as np

        lv = self._levels[level]
        out = np.full((height, width, 3), 255, dtype=np.uint8)
        x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + width, lv.width), min(y + height, lv.height)
        if x1 <= x0 or y1 <= y0:
            return out
        for ty in range(y0 // lv.tile_h, (y1 - 1) // lv.tile_h + 1):
            for tx in range(x0 // lv.tile_w, (x1 - 1) // lv.tile_w + 1):
                tile = self._tile(lv, (level, ty * lv.across + tx))
                if tile is None:
                    continue  # an empty tile is transparent: white
                top, left = ty * lv.tile_h, tx * lv.tile_w
                sy0, sy1 = max(y0, top), min(y1, top + lv.tile_h)
                sx0, sx1 = max(x0, left), min(x1, left + lv.tile_w)
                part = tile[sy0 - top:sy1 - top, sx0 - left:sx1 - left]
                out[sy0 - y:sy1 - y, sx0 - x:sx1 - x] = _rgb(part)
        return out

    def close(self) -> None:
        self._cache.clear()
        self._cached_bytes = 0
        self._slide.close()


def _rgb(part: np.ndarray) -> np.ndarray:
    """Grey → RGB; RGBA → RGB composited on white (straight alpha); RGB as is."""
    import numpy as np

    samples = part.shape[-1]
    if samples == 3:
        return part
    if samples == 1:
        return np.repeat(part, 3, axis=-1)
    alpha = part[..., 3:4].astype(np.uint16)
    return ((part[..., :3] * alpha + 255 * (255 - alpha) + 127) // 255).astype(np.uint8)
