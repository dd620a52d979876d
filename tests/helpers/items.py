"""Paths to the repository and the real validation split, and factories for valid items and keys."""

from __future__ import annotations

from pathlib import Path

from scale_vqa.dimensions import DIMENSIONS, Dimension
from scale_vqa.item import ImageRefs, Item

REPO = Path(__file__).resolve().parents[2]
SHARED_VAL = REPO.parent / "shared" / "data" / "scale_vqa" / "val.json"


def make_item(n: int, dimension: Dimension, answer: str = "A", *, n_options: int = 4, split: str = "test",
              region: str | None = None, slide: str | None = None) -> Item:
    """A valid item; the option texts are distinct and mention the item number."""
    region = region or f"r{n}"
    slide = slide or f"slide{n % 7}"
    return Item(
        id=f"{split}-{n:05d}", question=f"Question {n} about {dimension.value}?",
        options=tuple(f"option {letter} of item {n}" for letter in "ABCDEFGHIJ"[:n_options]),
        answer=answer, dimension=dimension, rationale=f"because {n}",
        images=ImageRefs(f"{slide}/{region}_lo.jpg", f"{slide}/{region}_mid.jpg", f"{slide}/{region}_hi.png"),
        wsi_name=slide, path_id=region, split=split, number=n,
    )


def make_key(per_dimension: int, split: str = "test") -> list[Item]:
    """`per_dimension` items of each dimension, gold letters cycling through A–D."""
    items = []
    n = 0
    for dim in DIMENSIONS:
        for _ in range(per_dimension):
            n += 1
            items.append(make_item(n, dim, "ABCD"[n % 4], split=split))
    return items
