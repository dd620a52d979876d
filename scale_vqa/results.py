"""Result folders: ``key.json`` beside ``predictions_<name>.jsonl`` files and an optional ``run.json``, as
``scale-vqa eval`` and ``scale-vqa baselines measure`` write them. One reader, scored by the core scorer, so the
report, the baselines table and ``scale-vqa score`` agree on the same files."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .item import Item
from .predictions import load_predictions
from .release import load_items
from .scoring import ScoreReport, score


@dataclass
class ResultFolder:
    folder: Path
    meta: dict[str, Any]
    """``run.json`` ({} when absent)."""
    key: list[Item]
    reports: dict[str, ScoreReport]
    """``predictions_<name>.jsonl`` → its score, in file-name order."""


def read_result_folder(folder: str | Path, *, circular: Callable[[str], bool] = lambda name: False) -> ResultFolder:
    """Score every predictions file of `folder` against its ``key.json`` (CircularEval for names `circular`
    accepts). Raises FileNotFoundError when there is no key or no predictions file."""
    folder = Path(folder)
    if not (folder / "key.json").is_file():
        raise FileNotFoundError(f"{folder}: not a result folder (no key.json): give a `scale-vqa eval` / "
                                "`scale-vqa baselines run` run folder or a `scale-vqa baselines measure` folder")
    meta = json.loads((folder / "run.json").read_text(encoding="utf-8")) if (folder / "run.json").is_file() else {}
    key = load_items(folder / "key.json")
    reports = {}
    for path in sorted(folder.glob("predictions_*.jsonl")):
        name = path.stem.removeprefix("predictions_")
        reports[name] = score(key, load_predictions(path), circular=circular(name))
    if not reports:
        raise FileNotFoundError(f"{folder}: no predictions_*.jsonl files")
    return ResultFolder(folder, meta, key, reports)
