"""Scoring predictions against a key: per-dimension and overall accuracy, strict accuracy, format rate.

Definitions (the same everywhere Scale-VQA prints a score):

* an item is *correct* when the predicted letter equals the gold letter. A letter comes from ``prediction``,
  or from ``output`` via :func:`~scale_vqa.parse.parse_answer` (tag or lenient fallback);
* *strict* correct: correct and the letter came from an ``<answer>`` tag, or was submitted as a letter;
* *format rate*: share of items with a raw output whose output follows the seed format
  (:func:`~scale_vqa.parse.check_format`); None when no output was submitted;
* missing predictions, unparseable outputs, letters that are not options of the item, and a ``prediction``
  that contradicts its ``output`` all count as wrong and are listed;
* *macro* (the seed's "AVG") is the unweighted mean of the per-dimension accuracies; *micro* pools items;
* *CircularEval*: predictions for every option rotation (ids from
  :func:`~scale_vqa.prompt.rotation_id`); an item counts only if every rotation is right.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from .dimensions import DIMENSIONS, Dimension
from .item import Item
from .parse import parse_answer
from .predictions import Prediction
from .prompt import circular_items
from .stats import McNemarResult, paired_test, stratified_interval, wilson_interval

Status = Literal["answered", "missing", "unparsed", "invalid", "conflict", "partial"]


@dataclass(frozen=True)
class ItemResult:
    """The judgement of one item (for CircularEval: of all its rotations together)."""

    id: str
    dimension: Dimension
    gold: str
    letter: str | None
    correct: bool
    strict: bool
    format_ok: bool | None
    status: Status

    @property
    def strict_correct(self) -> bool:
        return self.correct and self.strict


def judge(item: Item, prediction: Prediction | None) -> ItemResult:
    """Judge one prediction (None: missing) against its item."""
    def result(letter: str | None, strict: bool, fmt: bool | None, status: Status) -> ItemResult:
        correct = status == "answered" and letter == item.answer
        return ItemResult(item.id, item.dimension, item.answer, letter, correct, strict, fmt, status)

    if prediction is None or (prediction.letter is None and prediction.output is None):
        return result(None, False, None, "missing")
    if prediction.output is not None:
        parsed = parse_answer(prediction.output, item.letters)
        if prediction.letter is not None and prediction.letter != parsed.letter:
            return result(prediction.letter, False, parsed.format_ok, "conflict")
        status: Status = "answered" if parsed.letter is not None else "unparsed"
        return result(parsed.letter, parsed.strict, parsed.format_ok, status)
    if prediction.letter not in item.letters:
        return result(prediction.letter, False, None, "invalid")
    return result(prediction.letter, True, None, "answered")


@dataclass(frozen=True)
class Accuracy:
    """`correct` out of `n`, with its Wilson 95 % interval."""

    correct: int
    n: int

    @property
    def value(self) -> float:
        return self.correct / self.n if self.n else 0.0

    @property
    def ci(self) -> tuple[float, float]:
        return wilson_interval(self.correct, self.n)

    def to_dict(self) -> dict[str, object]:
        lo, hi = self.ci
        return {"correct": self.correct, "n": self.n, "acc": self.value, "ci95": [lo, hi]}


@dataclass(frozen=True)
class DimensionScore:
    dimension: Dimension
    accuracy: Accuracy
    strict: Accuracy
    format_ok: int
    n_outputs: int

    @property
    def format_rate(self) -> float | None:
        return self.format_ok / self.n_outputs if self.n_outputs else None


@dataclass
class ScoreReport:
    """Everything :func:`score` computes. Accuracies are fractions in [0, 1]."""

    results: list[ItemResult]
    per_dimension: dict[Dimension, DimensionScore]
    micro: Accuracy
    strict_micro: Accuracy
    macro: float
    macro_ci: tuple[float, float]
    strict_macro: float
    format_ok: int
    n_outputs: int
    unknown_ids: list[str] = field(default_factory=list)
    circular: bool = False

    @property
    def format_rate(self) -> float | None:
        return self.format_ok / self.n_outputs if self.n_outputs else None

    def ids_with(self, status: Status) -> list[str]:
        return [r.id for r in self.results if r.status == status]

    @property
    def missing(self) -> list[str]:
        return self.ids_with("missing")

    def correct_vector(self) -> dict[str, bool]:
        return {r.id: r.correct for r in self.results}

    def to_dict(self) -> dict[str, object]:
        lo, hi = self.macro_ci
        statuses = ("missing", "unparsed", "invalid", "conflict", "partial")
        return {
            "n_items": len(self.results),
            "circular": self.circular,
            "macro": {"acc": self.macro, "ci95": [lo, hi]},
            "micro": self.micro.to_dict(),
            "strict_macro": self.strict_macro,
            "strict_micro": self.strict_micro.to_dict(),
            "format_rate": self.format_rate,
            "n_outputs": self.n_outputs,
            "per_dimension": {
                d.value: {"code": d.code, **s.accuracy.to_dict(), "strict": s.strict.to_dict(),
                          "format_rate": s.format_rate}
                for d, s in self.per_dimension.items()
            },
            **{status: self.ids_with(status) for status in statuses},  # type: ignore[arg-type]
            "unknown_ids": self.unknown_ids,
        }


def _aggregate(results: list[ItemResult], unknown: list[str], circular: bool) -> ScoreReport:
    per_dim: dict[Dimension, DimensionScore] = {}
    for dim in DIMENSIONS:
        rows = [r for r in results if r.dimension is dim]
        if not rows:
            continue
        outputs = [r for r in rows if r.format_ok is not None]
        per_dim[dim] = DimensionScore(
            dim,
            Accuracy(sum(r.correct for r in rows), len(rows)),
            Accuracy(sum(r.strict_correct for r in rows), len(rows)),
            sum(bool(r.format_ok) for r in outputs),
            len(outputs),
        )
    groups = [(s.accuracy.correct, s.accuracy.n) for s in per_dim.values()]
    n_dims = len(per_dim) or 1
    return ScoreReport(
        results=results,
        per_dimension=per_dim,
        micro=Accuracy(sum(r.correct for r in results), len(results)),
        strict_micro=Accuracy(sum(r.strict_correct for r in results), len(results)),
        macro=sum(s.accuracy.value for s in per_dim.values()) / n_dims,
        macro_ci=stratified_interval(groups),
        strict_macro=sum(s.strict.value for s in per_dim.values()) / n_dims,
        format_ok=sum(s.format_ok for s in per_dim.values()),
        n_outputs=sum(s.n_outputs for s in per_dim.values()),
        unknown_ids=unknown,
        circular=circular,
    )


def score(key: Sequence[Item], predictions: Mapping[str, Prediction], *, circular: bool = False) -> ScoreReport:
    """Score `predictions` (id → :class:`Prediction`) against the items of `key`.

    With `circular`, predictions are expected for every option rotation of every item.
    """
    if not circular:
        known = {item.id for item in key}
        results = [judge(item, predictions.get(item.id)) for item in key]
        return _aggregate(results, [pid for pid in predictions if pid not in known], False)
    known = set()
    results = []
    for item in key:
        rotations = [judge(rot, predictions.get(rot.id)) for rot in circular_items(item)]
        known.update(r.id for r in rotations)
        n_missing = sum(r.status == "missing" for r in rotations)
        status: Status = "answered" if n_missing == 0 else "missing" if n_missing == len(rotations) else "partial"
        formats = [r.format_ok for r in rotations]
        results.append(ItemResult(
            item.id, item.dimension, item.answer, rotations[0].letter,
            correct=all(r.correct for r in rotations),
            strict=all(r.strict for r in rotations),
            format_ok=None if None in formats else all(formats),
            status=status,
        ))
    return _aggregate(results, [pid for pid in predictions if pid not in known], True)


def compare(a: ScoreReport, b: ScoreReport) -> McNemarResult:
    """Paired McNemar exact test of two reports on the same key (A − B)."""
    va, vb = a.correct_vector(), b.correct_vector()
    if va.keys() != vb.keys():
        raise ValueError("reports were scored on different items")
    ids = list(va)
    return paired_test([va[i] for i in ids], [vb[i] for i in ids])

