"""Tissue detection on a slide thumbnail and the choice of non-overlapping regions on tissue.

The mask is Otsu's threshold on HSV saturation (glass and background are unsaturated), clamped to
[`MIN_SATURATION`, `MAX_THRESHOLD`]: when tissue itself has a pale and a dark mode, Otsu splits the tissue instead
of tissue from glass, and the clamp keeps the pale tissue. Regions are window
centres whose 20× and 4× windows are mostly tissue; they are taken in random order (seeded per slide, so
reruns give the same regions) among the best-covered candidates, and their 4× windows never overlap.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

MIN_SATURATION = 20
"""Saturation (0–255) below which a pixel is never tissue, whatever Otsu says (an all-white slide)."""
MAX_THRESHOLD = 50
"""Saturation at or above which a pixel is always tissue (pale stroma is about 50–80; glass under 15)."""


def otsu_threshold(values: np.ndarray) -> float:
    """Otsu's threshold of 8-bit values."""
    import numpy as np

    hist = np.bincount(values.ravel(), minlength=256).astype(np.float64)
    total = hist.sum()
    if total == 0:
        return 0.0
    levels = np.arange(256, dtype=np.float64)
    w0 = np.cumsum(hist)
    w1 = total - w0
    m0 = np.cumsum(hist * levels)
    mean0 = np.divide(m0, w0, out=np.zeros_like(m0), where=w0 > 0)
    mean1 = np.divide(m0[-1] - m0, w1, out=np.zeros_like(m0), where=w1 > 0)
    between = w0 * w1 * (mean0 - mean1) ** 2
    return float(np.argmax(between))


def tissue_mask(thumbnail: Image.Image) -> np.ndarray:
    """Boolean mask (thumbnail rows × columns): True on tissue."""
    import numpy as np

    sat = np.asarray(thumbnail.convert("RGB").convert("HSV"))[..., 1]
    return sat > min(max(otsu_threshold(sat), MIN_SATURATION), MAX_THRESHOLD)


def slide_seed(seed: int, name: str) -> list[int]:
    """Seed for one slide: the run's seed and the slide's name (so adding a slide does not move the others)."""
    return [seed, zlib.crc32(name.encode("utf-8"))]


@dataclass(frozen=True)
class Region:
    cx: int
    cy: int
    tissue: float
    """Tissue fraction of the region's 20× window (on the thumbnail mask)."""


def _window_fractions(integral: np.ndarray, cx: np.ndarray, cy: np.ndarray, half_x: float, half_y: float,
                      shape: tuple[int, int]) -> np.ndarray:
    import numpy as np

    h, w = shape
    x0 = np.clip(np.floor(cx - half_x), 0, w).astype(int)
    x1 = np.clip(np.ceil(cx + half_x), 0, w).astype(int)
    y0 = np.clip(np.floor(cy - half_y), 0, h).astype(int)
    y1 = np.clip(np.ceil(cy + half_y), 0, h).astype(int)
    area = np.maximum((x1 - x0) * (y1 - y0), 1)
    total = integral[y1, x1] - integral[y0, x1] - integral[y1, x0] + integral[y0, x0]
    return total / area


def choose_regions(mask: np.ndarray, dims: tuple[int, int], windows: tuple[int, int, int], n: int, *,
                   seed: list[int], min_tissue: float = 0.5) -> list[Region]:
    """Up to `n` region centres (level-0 px) on a slide of `dims` whose tissue `mask` covers the whole slide.

    `windows` are the level-0 sides of the low, mid and high views. Centres keep the largest window that fits
    the slide inside it; high and mid windows must be at least `min_tissue` tissue; mid windows do not overlap.
    """
    import numpy as np

    width, height = dims
    low, mid, high = windows
    if high > width or high > height:
        raise ValueError(f"slide {width}×{height} px is smaller than the 20× window ({high} px)")
    rows, cols = mask.shape
    sx, sy = width / cols, height / rows
    integral = np.zeros((rows + 1, cols + 1), dtype=np.float64)
    integral[1:, 1:] = mask.astype(np.float64).cumsum(0).cumsum(1)

    def axis(extent: int) -> np.ndarray:
        half = max(w for w in (low, mid, high) if w <= extent) / 2
        step = max(1, high // 2)
        centres = np.arange(np.ceil(half), extent - half + 1, step)
        return centres if centres.size else np.array([extent / 2])

    gx, gy = np.meshgrid(axis(width), axis(height))
    cx, cy = gx.ravel(), gy.ravel()
    tx, ty = cx / sx, cy / sy
    f_high = _window_fractions(integral, tx, ty, high / sx / 2, high / sy / 2, mask.shape)
    f_mid = _window_fractions(integral, tx, ty, mid / sx / 2, mid / sy / 2, mask.shape)
    score = np.minimum(f_high, f_mid)
    keep = np.flatnonzero(score >= min_tissue)
    rng = np.random.default_rng(seed)
    keep = keep[rng.permutation(keep.size)]
    keep = keep[np.argsort(-np.floor(score[keep] * 4), kind="stable")]  # best quarter first, random within
    chosen: list[Region] = []
    for i in keep:
        x, y = int(cx[i]), int(cy[i])
        if all(abs(x - r.cx) >= mid or abs(y - r.cy) >= mid for r in chosen):
            chosen.append(Region(x, y, round(float(f_high[i]), 4)))
            if len(chosen) == n:
                break
    return chosen
