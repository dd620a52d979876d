"""A release folder (split files + images) → validated items → dataset rows.

Loading and validating the MCQs is the core's job (:func:`scale_vqa.release.read_release`); this module finds
the split files, checks the image files the items point to, and turns each item into a row of
:func:`builders.dataset.features.features`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from builders.dataset.images import ImageCheck, image_problem
from scale_vqa.dimensions import DIMENSIONS
from scale_vqa.item import LETTERS, Item
from scale_vqa.problems import InputError, Problem, ValidationReport
from scale_vqa.release import find_split_files, read_release


@dataclass
class Release:
    """Validated items of a release, per split, with the image folder their paths are relative to."""

    files: dict[str, Path]
    items: dict[str, list[Item]]
    image_root: Path
    warnings: list[Problem] = field(default_factory=list)

    @property
    def n_items(self) -> int:
        return sum(len(v) for v in self.items.values())


def load_release(release: str | Path, images: str | Path | None = None, *,
                 allow_missing_images: bool = False) -> Release:
    """Read and validate every split file of `release`. Raises :class:`InputError` listing every error, including
    every missing image file unless `allow_missing_images`."""
    files = find_split_files(release)
    root = Path(images) if images is not None else Path(release)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder not found: {root}")
    result = read_release(list(files.values()), image_root=None if allow_missing_images else root)
    if not result.ok:
        raise InputError(result.report, f"release {release}")
    by_split: dict[str, list[Item]] = {split: [] for split in files}
    for item in result.items:
        by_split[item.split or ""].append(item)
    return Release(files, by_split, root, result.report.warnings)


class RowMaker:
    """Turns items into rows, reading each image once per row and checking each file once.

    Only files inside the image folder are read: a path that resolves (following symlinks) outside it is an
    error in every check mode, so nothing from elsewhere on the disk is ever embedded. Problems with image files
    are collected in `problems` (errors) and `warnings` (a missing file when missing files are allowed), never
    raised here; call :meth:`raise_errors` when a split is done.
    """

    def __init__(self, root: Path, *, check: ImageCheck = "fast", allow_missing_images: bool = False) -> None:
        self.root, self.check, self.allow_missing = root, check, allow_missing_images
        self._real_root = root.resolve()
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []
        self._checked: dict[str, str | None] = {}

    def row(self, item: Item, file: str) -> dict[str, Any]:
        row: dict[str, Any] = {
            "id": item.id,
            "question": item.question,
            "options": list(item.options),
            "answer": LETTERS.index(item.answer),
            "rationale": item.rationale,
            "dimension": DIMENSIONS.index(item.dimension),
            "wsi_name": item.wsi_name,
            "path_id": item.path_id,
        }
        for scale, rel in item.images:
            row[scale.value] = None if rel is None else self._image(item, file, scale.value, rel)
            row[f"{scale.value}_path"] = rel
        return row

    def _image(self, item: Item, file: str, field_: str, rel: str) -> dict[str, Any] | None:
        path = self.root / rel
        real = path.resolve()  # symlinks followed: the file whose bytes would be stored
        if not real.is_relative_to(self._real_root):
            self.problems.append(Problem(file, f"image file {path} resolves to {real}, outside the image folder "
                                               f"{self.root}; links out of the image folder are refused",
                                         field=f"image_path.{field_}", item_id=item.id))
            return None
        try:
            data = real.read_bytes()
        except FileNotFoundError:
            problem = Problem(file, f"image file not found: {path}", "warning" if self.allow_missing else "error",
                              field=f"image_path.{field_}", item_id=item.id)
            (self.warnings if self.allow_missing else self.problems).append(problem)
            return None
        except OSError as exc:
            self.problems.append(Problem(file, f"cannot read image file {path}: {exc}",
                                         field=f"image_path.{field_}", item_id=item.id))
            return None
        if rel not in self._checked:
            self._checked[rel] = image_problem(data, self.check)
        message = self._checked[rel]
        if message:
            self.problems.append(Problem(file, f"{path}: {message}", field=f"image_path.{field_}", item_id=item.id))
            return None
        return {"bytes": data, "path": None}

    def rows(self, items: list[Item], file: str) -> Iterator[dict[str, Any]]:
        for item in items:
            yield self.row(item, file)

    def raise_errors(self, what: str) -> None:
        """Raise :class:`InputError` listing every image problem found so far, if there is one."""
        if self.problems:
            raise InputError(ValidationReport(list(self.problems)), what)
