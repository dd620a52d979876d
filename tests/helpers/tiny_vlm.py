"""Test fixtures on top of :mod:`evaluator.tiny_model` (the tiny random Qwen2.5-VL built offline): small
synthetic 3-image releases whose image sizes tell the scales apart."""

from __future__ import annotations

from pathlib import Path

from evaluator.tiny_model import REPLY, build_tiny_vlm
from scale_vqa import release
from scale_vqa.dimensions import DIMENSIONS
from scale_vqa.item import ImageRefs, Item
from scale_vqa.release import canonical_split as split_name
from tests.helpers.items import make_item

__all__ = ["IMAGE_SIZES", "REPLY", "build_tiny_vlm", "write_release"]

IMAGE_SIZES = {"low_mag": (56, 56), "mid_mag": (112, 56), "high_mag": (56, 112)}
"""(width, height) of each scale's synthetic image: distinct, so image_grid_thw tells the scales apart."""


def write_release(root: Path, n_per_dimension: int = 2, *, split: str = "val", image_format: str = "JPEG",
                  n_regions: int | None = None) -> list[Item]:
    """Write ``root/{split}.json`` and ``root/images/…`` (5 dimensions × `n_per_dimension` items) and return
    the items. Each region has three synthetic images (sizes :data:`IMAGE_SIZES`, a colour per region and
    scale); items share regions as in the release."""
    from PIL import Image

    n = n_per_dimension * len(DIMENSIONS)
    n_regions = n_regions or max(2, n // 2)
    ext = "jpg" if image_format == "JPEG" else image_format.lower()
    items: list[Item] = []
    for i in range(n):
        region, slide = f"r{i % n_regions}", f"slide{i % n_regions % 3}"
        refs = {}
        for s, (scale, size) in enumerate(IMAGE_SIZES.items()):
            rel = f"{slide}/{region}_{scale}.{ext}"
            path = root / "images" / rel
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                colour = ((37 * (i % n_regions)) % 256, (80 * s + 20) % 256, (11 * (i % n_regions) + 60 * s) % 256)
                Image.new("RGB", size, colour).save(path, image_format)
            refs[scale] = rel
        item = make_item(i + 1, DIMENSIONS[i % len(DIMENSIONS)], "ABCD"[i % 4], split=split_name(split),
                         region=region, slide=slide)
        items.append(item.with_(images=ImageRefs(**refs)))
    release.write_release(items, root / f"{split}.json")
    return items
