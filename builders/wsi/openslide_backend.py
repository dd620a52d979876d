"""The ``openslide`` backend of :class:`~builders.wsi.slide.Slide`: every format OpenSlide reads.

A level read at level pixel ``(x, y)`` asks OpenSlide for the level-0 origin ``round(x * downsample)``. With a
whole-number downsample (Aperio and most pyramids) that is exactly the level's grid and OpenSlide copies decoded
pixels; with a fractional one (odd level sizes: 4.0034) no level-0 integer lands on the grid and OpenSlide
resamples at the sub-pixel offset. The RGBA read is composited on white.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from builders.wsi.slide import CACHE_BYTES, WHITE, Slide, SlideError, UnsupportedSlideError, _positive

if TYPE_CHECKING:
    from PIL import Image


def flatten(region: Image.Image) -> Image.Image:
    """An RGBA OpenSlide read as RGB on white."""
    from PIL import Image

    alpha = region.getchannel("A")
    if alpha.getextrema()[0] == 255:
        return region.convert("RGB")
    out = Image.new("RGB", region.size, WHITE)
    out.paste(region, mask=alpha)
    return out


class OpenSlideSlide(Slide):
    backend = "openslide"

    def __init__(self, path: Path) -> None:
        import openslide

        self.path = path
        try:
            self._slide: Any = openslide.OpenSlide(str(path))
        except openslide.OpenSlideUnsupportedFormatError:
            raise UnsupportedSlideError(f"{path}: not a whole-slide image OpenSlide can read") from None
        except openslide.OpenSlideError as exc:
            raise SlideError(f"{path}: unreadable slide: {exc}") from None
        self._slide.set_cache(openslide.OpenSlideCache(CACHE_BYTES))
        props = self._slide.properties
        self.vendor = str(props.get("openslide.vendor") or "unknown")
        self.level_dimensions = tuple((int(w), int(h)) for w, h in self._slide.level_dimensions)
        self.level_downsamples = tuple(float(d) for d in self._slide.level_downsamples)
        self.objective_power = _positive(props.get("openslide.objective-power"))
        self.mpp = _positive(props.get("openslide.mpp-x"))

    def read_level(self, level: int, x: int, y: int, width: int, height: int) -> Image.Image:
        ds = self.level_downsamples[level]
        region = self._slide.read_region((round(x * ds), round(y * ds)), level, (width, height))
        return flatten(region)

    def close(self) -> None:
        self._slide.close()
