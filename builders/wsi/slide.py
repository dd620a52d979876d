"""One slide interface for every reader backend: base magnification, nested windows and grid-snapped level reads.

A :class:`Slide` is a pyramid (level sizes and downsamples, objective power, MPP) that reads a rectangle of one
level in that level's pixel grid as RGB on white (outside the slide and transparent areas are white). Two
backends implement it: ``openslide`` (:mod:`builders.wsi.openslide_backend`, every format OpenSlide reads) and
``tiffslide`` (:mod:`builders.wsi.tiffslide_backend`, TIFF-family slides through tifffile and imagecodecs, with
a warm per-slide tile cache). :func:`open_slide` picks one; ``auto`` takes tiffslide for the formats it reads
faithfully (Aperio SVS and generic tiled TIFF, when OpenSlide does not name another format for the file) and
OpenSlide for the rest. Nothing below it branches on the backend.

A view at magnification ``m`` of a slide scanned at ``base`` covers ``size * base / m`` level-0 pixels. It is
read from the pyramid level whose downsample is the largest not above the view's (``ds * 1.0001``: downsamples may
be fractional), with the origin snapped to that level's pixel grid (the shift is under half a level pixel),
and BOX-resized to ``size`` px.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, ClassVar

from scale_vqa.errors import MissingExtraError, missing_modules

if TYPE_CHECKING:
    from PIL import Image

WHITE = (255, 255, 255)
BACKENDS = ("auto", "openslide", "tiffslide")
CACHE_BYTES = 64 * 2**20
"""Decoded-tile cache per open slide (both backends)."""


class SlideError(Exception):
    """A slide cannot be used (unreadable file, no magnification, too small …)."""


class UnsupportedSlideError(SlideError):
    """The file is not a slide this backend reads (``auto`` then tries the other backend)."""


class Slide(ABC):
    """An open pyramidal slide. Backends fill the attributes and implement :meth:`read_level` and :meth:`close`."""

    backend: ClassVar[str]
    path: Path
    vendor: str
    """Format as the backend names it (``aperio``, ``generic-tiff`` …)."""
    level_dimensions: tuple[tuple[int, int], ...]
    level_downsamples: tuple[float, ...]
    objective_power: float | None
    mpp: float | None
    """Microns per level-0 pixel (x), when the file says."""

    @abstractmethod
    def read_level(self, level: int, x: int, y: int, width: int, height: int) -> Image.Image:
        """Pixels ``[y, y + height) × [x, x + width)`` of `level` (in the level's pixel grid) as an RGB image."""

    @abstractmethod
    def close(self) -> None:
        """Release the file and the caches."""

    @property
    def dimensions(self) -> tuple[int, int]:
        return self.level_dimensions[0]

    @property
    def level_count(self) -> int:
        return len(self.level_dimensions)

    def best_level(self, downsample: float) -> int:
        """The coarsest level whose downsample is not above `downsample` (level 0 below 1)."""
        best = 0
        for level, ds in enumerate(self.level_downsamples):
            if ds <= downsample:
                best = level
        return best

    def __enter__(self) -> Slide:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def _positive(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if number > 0 and math.isfinite(number) else None


def open_slide(path: str | Path, backend: str = "auto") -> Slide:
    """Open `path` with `backend` (``auto``, ``openslide`` or ``tiffslide``). SlideError names the file and the
    reason when it cannot be read; MissingExtraError when the backend's package is not installed."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    path = Path(path)
    if not path.is_file():
        raise SlideError(f"{path}: file not found")
    if backend == "tiffslide":
        return _tiffslide(path, strict=False)
    if backend == "openslide":
        return _openslide(path)
    tiff_error: SlideError | None = None
    if not missing_modules("tiffslide", "imagecodecs"):
        try:
            slide = _tiffslide(path, strict=True)
        except SlideError as exc:
            tiff_error = exc
        else:
            if _openslide_agrees(path, slide.vendor):
                return slide
            slide.close()
    if missing_modules("openslide"):
        if tiff_error is not None:
            raise tiff_error
        raise MissingExtraError("wsi", ["openslide"], "reading slides")
    try:
        return _openslide(path)
    except SlideError as exc:
        if tiff_error is None:
            raise
        if not isinstance(tiff_error, UnsupportedSlideError):  # a TIFF slide, damaged: tiffslide says how
            raise tiff_error from None
        if isinstance(exc, UnsupportedSlideError):
            raise UnsupportedSlideError(f"{path}: not a whole-slide image OpenSlide or tiffslide can read") from None
        raise


def _openslide_agrees(path: Path, vendor: str) -> bool:
    """False when OpenSlide names another format for the file (a vendor TIFF that tifffile takes for a generic
    one, e.g. Trestle): ``auto`` leaves such files to OpenSlide. True when OpenSlide is absent or cannot read it."""
    if missing_modules("openslide"):
        return True
    import openslide

    try:
        theirs = openslide.OpenSlide.detect_format(str(path))
    except openslide.OpenSlideError:
        return True
    return theirs in (None, vendor)


def _openslide(path: Path) -> Slide:
    if missing_modules("openslide"):
        raise MissingExtraError("wsi", ["openslide"], "--backend openslide")
    from builders.wsi.openslide_backend import OpenSlideSlide

    return OpenSlideSlide(path)


def _tiffslide(path: Path, *, strict: bool) -> Slide:
    absent = missing_modules("tiffslide", "imagecodecs")
    if absent:
        raise MissingExtraError("wsi", absent, "--backend tiffslide")
    from builders.wsi.tiffslide_backend import TiffSlideSlide

    return TiffSlideSlide(path, strict=strict)


def base_magnification(slide: Slide, override: float | None = None) -> tuple[float, str]:
    """(objective magnification of level 0, where it came from): `override`, else the slide's objective power,
    else ``10 / mpp`` (10 µm per pixel ≙ 1×). SlideError when none is known."""
    if override is not None:
        if override <= 0:
            raise SlideError(f"--base-mag must be positive, got {override}")
        return float(override), "--base-mag"
    power = _positive(slide.objective_power)
    if power:
        return power, "objective-power"
    mpp = _positive(slide.mpp)
    if mpp:
        return 10.0 / mpp, "mpp"
    raise SlideError("no objective power or MPP in the slide's metadata; pass --base-mag (e.g. 40)")


@dataclass(frozen=True)
class Read:
    """How one view was read: level-0 origin (after snapping), level and its downsample, level pixels read."""

    x: int
    y: int
    level: int
    downsample: float
    read_size: int
    level_x: int
    level_y: int


def plan_read(slide: Slide, x: int, y: int, size: int, out_size: int) -> Read:
    """Level, grid-snapped origin and read size for the level-0 window (x, y, size) shown at `out_size` px."""
    level = slide.best_level(size / out_size * 1.0001)
    lds = float(slide.level_downsamples[level])
    read_size = max(1, round(size / lds))
    lx, ly = round(x / lds), round(y / lds)
    return Read(round(lx * lds), round(ly * lds), level, lds, read_size, lx, ly)


def read_view(slide: Slide, x: int, y: int, size: int, out_size: int) -> tuple[Image.Image, Read]:
    """The level-0 window (x, y, size) as an `out_size` × `out_size` RGB image, and how it was read."""
    from PIL import Image

    plan = plan_read(slide, x, y, size, out_size)
    image = slide.read_level(plan.level, plan.level_x, plan.level_y, plan.read_size, plan.read_size)
    if image.size != (out_size, out_size):
        image = image.resize((out_size, out_size), Image.Resampling.BOX)
    return image, plan


def thumbnail(slide: Slide, min_side: int = 512, max_pixels: int = 16 * 2**20, band: int = 1024) -> Image.Image:
    """A whole-slide RGB overview: the coarsest level whose longer side is at least `min_side`, read whole when it
    has at most `max_pixels`, else read in bands of rows, each BOX-reduced to about 1024 px on the longer side."""
    from PIL import Image

    sizes = slide.level_dimensions
    level = max((k for k, (w, h) in enumerate(sizes) if max(w, h) >= min_side), default=0)
    w, h = sizes[level]
    if w * h <= max_pixels:
        return slide.read_level(level, 0, 0, w, h)
    factor = math.ceil(max(w, h) / 1024)
    rows = max(1, band // factor) * factor
    parts = [slide.read_level(level, 0, y, w, min(rows, h - y)).reduce(factor)
             for y in range(0, h, rows)]
    out = Image.new("RGB", (parts[0].width, sum(p.height for p in parts)))
    top = 0
    for part in parts:
        out.paste(part, (0, top))
        top += part.height
    return out


def window_size(base_mag: float, mag: float, out_size: int) -> int:
    """Level-0 side of a view at `mag` shown at `out_size` px (512 px at 1× of a 40× slide: 20480)."""
    return max(1, round(out_size * base_mag / mag))
