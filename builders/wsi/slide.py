"""Whole-slide images through OpenSlide: base magnification, nested windows and grid-aligned reads.

A view at magnification ``m`` of a slide scanned at ``base`` covers ``size * base / m`` level-0 pixels. It is
read from the pyramid level whose downsample is the largest not above the view's
(``get_best_level_for_downsample(ds * 1.0001)``: downsamples may be fractional), with the read origin snapped
to that level's pixel grid (an off-grid origin makes OpenSlide resample, 2–4× slower; the shift is under half a
level pixel), composited on white (outside the slide and transparent areas are white) and BOX-resized to
``size`` px.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL import Image

WHITE = (255, 255, 255)


class SlideError(Exception):
    """A slide cannot be used (unreadable file, no magnification, too small …)."""


def open_slide(path: str | Path) -> Any:
    """Open a whole-slide image with OpenSlide; SlideError names the file and the reason when it cannot."""
    import openslide

    path = Path(path)
    if not path.is_file():
        raise SlideError(f"{path}: file not found")
    try:
        return openslide.OpenSlide(str(path))
    except openslide.OpenSlideUnsupportedFormatError:
        raise SlideError(f"{path}: not a whole-slide image OpenSlide can read") from None
    except openslide.OpenSlideError as exc:
        raise SlideError(f"{path}: unreadable slide: {exc}") from None


def base_magnification(slide: Any, override: float | None = None) -> tuple[float, str]:
    """(objective magnification of level 0, where it came from): `override`, else the slide's objective power,
    else ``10 / mpp`` (10 µm per pixel ≙ 1×). SlideError when none is known."""
    if override is not None:
        if override <= 0:
            raise SlideError(f"--base-mag must be positive, got {override}")
        return float(override), "--base-mag"
    props = slide.properties
    power = props.get("openslide.objective-power")
    if power:
        try:
            value = float(power)
            if value > 0:
                return value, "objective-power"
        except ValueError:
            pass
    mpp = props.get("openslide.mpp-x")
    if mpp:
        try:
            value = float(mpp)
            if value > 0:
                return 10.0 / value, "mpp"
        except ValueError:
            pass
    raise SlideError("no objective power or MPP in the slide's metadata; pass --base-mag (e.g. 40)")


@dataclass(frozen=True)
class Read:
    """How one view was read: level-0 origin (after snapping), level and its downsample, pixels read."""

    x: int
    y: int
    level: int
    downsample: float
    read_size: int


def plan_read(slide: Any, x: int, y: int, size: int, out_size: int, *, aligned: bool = True) -> Read:
    """Level, origin and read size for the level-0 window (x, y, size) shown at `out_size` px."""
    ds = size / out_size
    level = slide.get_best_level_for_downsample(ds * 1.0001)
    lds = float(slide.level_downsamples[level])
    read_size = max(1, round(size / lds))
    if aligned:
        x, y = round(round(x / lds) * lds), round(round(y / lds) * lds)
    return Read(int(x), int(y), int(level), lds, int(read_size))


def flatten(region: Image.Image) -> Image.Image:
    """An RGBA OpenSlide read as RGB on white."""
    from PIL import Image

    alpha = region.getchannel("A")
    if alpha.getextrema()[0] == 255:
        return region.convert("RGB")
    out = Image.new("RGB", region.size, WHITE)
    out.paste(region, mask=alpha)
    return out


def read_view(slide: Any, x: int, y: int, size: int, out_size: int, *,
              aligned: bool = True) -> tuple[Image.Image, Read]:
    """The level-0 window (x, y, size) as an `out_size` × `out_size` RGB image, and how it was read."""
    from PIL import Image

    plan = plan_read(slide, x, y, size, out_size, aligned=aligned)
    image = flatten(slide.read_region((plan.x, plan.y), plan.level, (plan.read_size, plan.read_size)))
    if image.size != (out_size, out_size):
        image = image.resize((out_size, out_size), Image.Resampling.BOX)
    return image, plan


def thumbnail(slide: Any, min_side: int = 512, max_pixels: int = 16 * 2**20) -> Image.Image:
    """A whole-slide RGB overview: the coarsest level whose longer side is at least `min_side`, read in one aligned
    read (much cheaper than resampling a finer level); ``get_thumbnail`` when even that level is too big."""
    sizes = slide.level_dimensions
    level = max((k for k, (w, h) in enumerate(sizes) if max(w, h) >= min_side), default=0)
    w, h = sizes[level]
    if w * h > max_pixels:
        return slide.get_thumbnail((1024, 1024)).convert("RGB")
    return flatten(slide.read_region((0, 0), level, (w, h)))


def window_size(base_mag: float, mag: float, out_size: int) -> int:
    """Level-0 side of a view at `mag` shown at `out_size` px (512 px at 1× of a 40× slide: 20480)."""
    return max(1, round(out_size * base_mag / mag))
