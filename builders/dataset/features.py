"""The typed schema of a built Scale-VQA dataset (one row per MCQ).

Options are a list of strings in letter order (A, B, …; 2–10 of them): the answer's ClassLabel index is the
option's position, so ``row["options"][row["answer"]]`` is the gold text for any option count. Images are
nullable ``Image()`` columns holding the original file bytes; ``*_path`` keeps the release's relative path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scale_vqa.dimensions import DIMENSIONS, SCALES
from scale_vqa.item import LETTERS

if TYPE_CHECKING:
    import datasets

IMAGE_COLUMNS: tuple[str, ...] = tuple(s.value for s in SCALES)
"""``low_mag``, ``mid_mag``, ``high_mag``: nullable images (1×, 4×, 20×)."""
PATH_COLUMNS: tuple[str, ...] = tuple(f"{c}_path" for c in IMAGE_COLUMNS)
ANSWER_NAMES: tuple[str, ...] = tuple(LETTERS)
DIMENSION_NAMES: tuple[str, ...] = tuple(d.value for d in DIMENSIONS)


def features() -> datasets.Features:
    """The `datasets.Features` of a Scale-VQA row."""
    from datasets import ClassLabel, Features, Image, List, Value

    cols: dict[str, object] = {
        "id": Value("string"),
        "question": Value("string"),
        "options": List(Value("string")),
        "answer": ClassLabel(names=list(ANSWER_NAMES)),
        "rationale": Value("string"),
        "dimension": ClassLabel(names=list(DIMENSION_NAMES)),
        "wsi_name": Value("string"),
        "path_id": Value("string"),
    }
    for name in IMAGE_COLUMNS:
        cols[name] = Image()
    for name in PATH_COLUMNS:
        cols[name] = Value("string")
    return Features(cols)
