"""`Item`: one validated multiple-choice question grounded in an image triplet."""

from __future__ import annotations

import string
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from .dimensions import SCALES, Dimension, Scale

LETTERS = string.ascii_uppercase[:10]
"""Option letters in order. An item has 2–10 options, lettered A, B, C … without gaps."""
MIN_OPTIONS = 2
MAX_OPTIONS = len(LETTERS)


@dataclass(frozen=True)
class ImageRefs:
    """Relative image paths of one region at the three scales; any of them may be missing (None).

    Paths are opaque strings relative to an image root: never parsed for magnification or coordinates.
    """

    low_mag: str | None = None
    mid_mag: str | None = None
    high_mag: str | None = None

    def get(self, scale: Scale) -> str | None:
        return getattr(self, scale.value)

    def present(self) -> tuple[Scale, ...]:
        """Scales that have an image, in low → high order."""
        return tuple(s for s in SCALES if self.get(s) is not None)

    def missing(self) -> tuple[Scale, ...]:
        return tuple(s for s in SCALES if self.get(s) is None)

    def __iter__(self) -> Iterator[tuple[Scale, str | None]]:
        return iter((s, self.get(s)) for s in SCALES)

    def as_dict(self) -> dict[str, str | None]:
        return {s.value: self.get(s) for s in SCALES}


@dataclass(frozen=True)
class Item:
    """One MCQ. `options` holds the option texts in letter order (A, B, …); `answer` is a letter."""

    id: str
    question: str
    options: tuple[str, ...]
    answer: str
    dimension: Dimension
    rationale: str = ""
    images: ImageRefs = field(default_factory=ImageRefs)
    wsi_name: str | None = None
    path_id: str | None = None
    split: str | None = None
    number: int | None = None
    """The release's own per-split number (`No`), when it has one."""

    def __post_init__(self) -> None:
        if not MIN_OPTIONS <= len(self.options) <= MAX_OPTIONS:
            raise ValueError(f"item {self.id}: {len(self.options)} options (need {MIN_OPTIONS}–{MAX_OPTIONS})")
        if self.answer not in self.letters:
            raise ValueError(f"item {self.id}: answer {self.answer!r} is not one of {self.letters}")

    @property
    def letters(self) -> str:
        """Option letters of this item, e.g. ``ABCD``."""
        return LETTERS[: len(self.options)]

    @property
    def n_options(self) -> int:
        return len(self.options)

    @property
    def option_map(self) -> dict[str, str]:
        """Options as an ordered letter → text mapping (the release's form)."""
        return dict(zip(self.letters, self.options, strict=True))

    def option(self, letter: str) -> str:
        return self.options[self.letters.index(letter)]

    @property
    def gold_text(self) -> str:
        return self.option(self.answer)

    @property
    def region(self) -> str:
        """Key of the imaged region: `path_id`, or the image paths when there is none."""
        if self.path_id:
            return self.path_id
        return "|".join(p or "" for _, p in self.images)

    def to_release(self) -> dict[str, object]:
        """The item as a release-format record (the inverse of loading); `id` is written so it survives."""
        record: dict[str, object] = {
            "id": self.id,
            "question": self.question,
            "options": self.option_map,
            "answer": self.answer,
            "rationale": self.rationale,
            "image_path": self.images.as_dict(),
            "extra_info": {
                "wsi_name": self.wsi_name,
                "path_id": self.path_id,
                "question_type": self.dimension.code,
            },
        }
        if self.number is not None:
            record["No"] = self.number
        return record

    def with_(self, **changes: object) -> Item:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)  # type: ignore[arg-type]
