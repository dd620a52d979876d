"""lm-eval metrics of one doc, from the core scorer (:func:`scale_vqa.scoring.judge`), and CircularEval's
aggregation. Every number the task reports is the one ``scale-vqa score`` gives for the same outputs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from scale_vqa.predictions import Prediction
from scale_vqa.prompt import split_rotation_id
from scale_vqa.scoring import judge

from .docs import source_by_key

METRICS = ("acc", "acc_micro", "acc_strict", "format_rate")


def doc_metrics(doc: Mapping[str, Any], output: str) -> dict[str, Any]:
    """``acc`` / ``acc_micro`` (correct), ``acc_strict`` (correct from an ``<answer>`` tag), ``format_rate``
    (the seed's output format) for one doc; CircularEval docs report ``(item id, value)`` pairs."""
    item = source_by_key(doc["source"]).item(doc["id"])
    result = judge(item, Prediction.of_output(output))
    values = {"acc": result.correct, "acc_micro": result.correct, "acc_strict": result.strict_correct,
              "format_rate": bool(result.format_ok)}
    if doc["variant"] == "circular":
        base = split_rotation_id(doc["id"])[0]
        return {k: (base, v) if k != "format_rate" else float(v) for k, v in values.items()}
    return {k: float(v) for k, v in values.items()}


def circular_mean(pairs: Iterable[tuple[str, bool]]) -> float:
    """CircularEval: share of items whose every rotation is right."""
    per_item: dict[str, bool] = {}
    for item_id, ok in pairs:
        per_item[item_id] = per_item.get(item_id, True) and bool(ok)
    return sum(per_item.values()) / len(per_item) if per_item else 0.0
