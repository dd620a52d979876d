"""The ``tiffslide`` backend of :class:`~builders.wsi.slide.Slide`: TIFF-family slides read through tiffslide.

tiffslide opens the file (tifffile underneath), names the format and parses its metadata and level table, as it
does for ``TiffSlide.read_region``. Tiles are read through tifffile's own decoder for the page (imagecodecs:
libjpeg-turbo for JPEG tiles, the same decode tiffslide's zarr store runs) and kept in a per-slide LRU cache of
decoded tiles, so the overlapping low-magnification windows of one slide's regions decode each tile once. A read
takes the level's pixel grid as given (no resampling); pixels outside the level are white, like OpenSlide's
transparent edges composited on white. A JPEG tile that is not structurally whole (cut short, zero-filled, a
stray marker inside its data) fails the read, as OpenSlide fails it; libjpeg would only warn and decode grey.

With ``strict`` (the ``auto`` choice) only the formats whose layout tiffslide reads as OpenSlide does are taken:
Aperio SVS and generic tiled TIFF; other vendors (NDPI, SCN, BIF …) go to OpenSlide.
"""

from __future__ import annotations

import logging
import re
import threading
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from builders.wsi.slide import CACHE_BYTES, Slide, SlideError, UnsupportedSlideError, _positive

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

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
        self.jpeg = int(page.compression) == 7


class TiffSlideSlide(Slide):
    backend = "tiffslide"

    def __init__(self, path: Path, *, strict: bool = False, cache_bytes: int = CACHE_BYTES) -> None:
        import tifffile
        import tiffslide

        self.path = path
        complaints = _Complaints()
        log = logging.getLogger("tifffile")
        log.addHandler(complaints)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self._slide: Any = tiffslide.TiffSlide(str(path))
                tif = self._slide.ts_tifffile
                _check_complete(path, tif, complaints)
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
        finally:
            log.removeHandler(complaints)
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
                raise SlideError(f"{self.path}: file truncated: tile {index} of level {key[0]} ends past the end of "
                                 "the file")
            if level.jpeg and not jpeg_complete(data):
                raise SlideError(f"{self.path}: corrupt JPEG data in tile {index} of level {key[0]}")
            segment, _, _ = level.decode(data, index, **level.tables)
            tile = np.asarray(segment).reshape(segment.shape[-3:])
            self._cached_bytes += tile.nbytes
        self._cache[key] = tile
        while self._cached_bytes > self._cache_bytes and self._cache:
            _, old = self._cache.popitem(last=False)
            self._cached_bytes -= 0 if old is None else old.nbytes
        return tile

    def read_level(self, level: int, x: int, y: int, width: int, height: int) -> Image.Image:
        import numpy as np
        from PIL import Image

        lv = self._levels[level]
        x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + width, lv.width), min(y + height, lv.height)
        inside = (x0, y0, x1, y1) == (x, y, x + width, y + height)
        out = np.empty((height, width, 3), dtype=np.uint8) if inside else np.full((height, width, 3), 255, np.uint8)
        if x1 <= x0 or y1 <= y0:
            return Image.fromarray(out)
        for ty in range(y0 // lv.tile_h, (y1 - 1) // lv.tile_h + 1):
            for tx in range(x0 // lv.tile_w, (x1 - 1) // lv.tile_w + 1):
                tile = self._tile(lv, (level, ty * lv.across + tx))
                top, left = ty * lv.tile_h, tx * lv.tile_w
                sy0, sy1 = max(y0, top), min(y1, top + lv.tile_h)
                sx0, sx1 = max(x0, left), min(x1, left + lv.tile_w)
                if tile is None:  # an empty tile is transparent: white
                    out[sy0 - y:sy1 - y, sx0 - x:sx1 - x] = 255
                else:
                    out[sy0 - y:sy1 - y, sx0 - x:sx1 - x] = _rgb(tile[sy0 - top:sy1 - top, sx0 - left:sx1 - left])
        return Image.fromarray(out)

    def close(self) -> None:
        self._cache.clear()
        self._cached_bytes = 0
        self._slide.close()


class _Complaints(logging.Handler):
    """Collects what tifffile logs (at warning level) while a file is opened: a broken IFD chain, for one."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _check_complete(path: Path, tif: Any, complaints: _Complaints) -> None:
    """SlideError unless every page of the file could be read and every page's data lies inside the file. A
    truncated file otherwise opens as a smaller, valid-looking pyramid (OpenSlide refuses it when opening)."""
    count = len(tif.pages)  # follows the whole IFD chain
    broken = [m for m in complaints.messages if "offset" in m or "corrupted" in m or "truncated" in m]
    if broken:
        raise SlideError(f"{path}: unreadable slide: damaged or truncated TIFF ({broken[0]})")
    size = tif.filehandle.size
    for index in range(count):
        page = tif.pages[index]
        ends = [int(o) + int(c) for o, c in zip(page.dataoffsets, page.databytecounts, strict=False) if c]
        if ends and max(ends) > size:
            raise SlideError(f"{path}: unreadable slide: file truncated: page {index}'s data ends at byte "
                             f"{max(ends)}, past the end of the file ({size} bytes)")


_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
"""A marker inside entropy-coded data: 0xFF followed by anything but a stuffed zero, fill or a restart marker."""


def jpeg_complete(data: bytes) -> bool:
    """Whether a JPEG stream is structurally whole: SOI, well-formed marker segments, entropy-coded data that no
    stray marker interrupts, and EOI followed by nothing but zero padding. libjpeg only warns on a stream that
    fails this (and decodes grey or garbage), while OpenSlide treats those warnings as errors; checking keeps the
    backends alike."""
    n = len(data)
    if n < 4 or data[:2] != b"\xff\xd8":
        return False
    pos = 2
    while pos + 1 < n:
        if data[pos] != 0xFF:
            return False
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker == 0xD9:  # end of image: only zero padding may follow
            return not data[pos + 2:].strip(b"\0")
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if pos + 4 > n:
            return False
        pos += 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
        if marker == 0xDA:  # start of scan: skip the entropy-coded data up to the next marker
            found = _MARKER.search(data, pos)
            if found is None:
                return False
            pos = found.start()
    return False


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
