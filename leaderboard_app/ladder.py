"""What a submission reveals under a private key: the parameter-free Ladder (Blum & Hardt, 2015, "The Ladder: A
Reliable Leaderboard for Machine Learning Competitions").

A score is disclosed only when it beats every best it is compared with (the submitter's best, the model's best, and
the best earlier submission whose answers are nearly the same, by anyone) by a significance margin: the mean of the
per-item correctness difference against that best must exceed its standard error (a one-sided paired test). A
disclosed score is rounded to a fixed step; per-dimension accuracies are rounded to a step at least as coarse in
items (so no exact count of correct answers can be read from them). Otherwise nothing new is disclosed and the reply
names the earlier best. A score that is not significantly above what guessing gets (one-sided exact test, p ≥ 0.001)
is not disclosed either ("not above chance"): the scores of random answer sets are what a boosting attack reads.
A disclosed score must also move the rounded number up (a new number is all there is to show). Under a public key
(answers already released) the exact scores are shown, self-reported.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from typing import Any

from scale_vqa.item import Item
from scale_vqa.stats import chance_test


def correct(letters: Mapping[str, str | None], key: Sequence[Item]) -> list[bool]:
    """Per-item correctness of an answer set against the key (key order)."""
    return [letters.get(it.id) == it.answer for it in key]


def improves(new: Sequence[bool], best: Sequence[bool]) -> bool:
    """True when `new` beats `best` significantly: the mean paired difference exceeds its standard error."""
    n = len(new)
    if n < 2 or n != len(best):
        return False
    diffs = [int(a) - int(b) for a, b in zip(new, best, strict=True)]
    mean = sum(diffs) / n
    var = sum((d - mean) ** 2 for d in diffs) / (n - 1)
    return mean > math.sqrt(var / n)


def round_to(value: float, step: float) -> float:
    """`value` rounded to the nearest multiple of `step` (a finite float, 4 decimals)."""
    return round(round(value / step) * step, 4) if step > 0 else value


def dimension_step(step: float, n_items: int, n_dim: int) -> float:
    """A per-dimension rounding step that spans at least as many items as `step` does over all `n_items`."""
    return step * math.ceil(n_items / n_dim) if n_dim else step


def rounded(scores: Mapping[str, Any], step: float) -> dict[str, Any]:
    """The disclosed numbers of a shown score: AVG, strict AVG and per-dimension accuracies rounded (the format
    rate does not depend on the key and is kept)."""
    n = int(scores["n_items"])
    per = {dim: round_to(v["acc"], dimension_step(step, n, int(v.get("n", 0) or n)))
           for dim, v in scores["per_dimension"].items()}
    strict = scores.get("strict_macro")
    return {"shown": True, "step": step, "n_items": n, "macro": round_to(scores["macro"]["acc"], step),
            "strict_macro": None if strict is None else round_to(strict, step), "per_dimension": per,
            "format_rate": scores.get("format_rate")}


def exact(scores: Mapping[str, Any]) -> dict[str, Any]:
    """The disclosed numbers under a public key: the exact scores, self-reported."""
    return {"shown": True, "step": 0, "self_reported": True, "n_items": scores["n_items"],
            "macro": scores["macro"]["acc"], "strict_macro": scores.get("strict_macro"),
            "per_dimension": {d: v["acc"] for d, v in scores["per_dimension"].items()},
            "format_rate": scores.get("format_rate")}


CHANCE_ALPHA = 0.001


def above_chance(new: Sequence[bool], key: Sequence[Item], alpha: float = CHANCE_ALPHA) -> bool:
    """True when the number right is significantly above what uniform guessing gets on `key` (exact test)."""
    return sum(new) >= chance_threshold(tuple(len(it.letters) for it in key), alpha)


@functools.lru_cache(maxsize=16)
def chance_threshold(options: tuple[int, ...], alpha: float = CHANCE_ALPHA) -> int:
    """The fewest right answers that are significantly above guessing (one-sided exact p < `alpha`) on items
    with these numbers of options: the exact test, computed once per key (it costs a Poisson-binomial
    distribution; its p-value only falls as the count grows, so a binary search finds the threshold)."""
    probs = [1 / n for n in options]
    lo, hi = 0, len(options) + 1  # hi: "never" (not even all right)
    while lo < hi:
        mid = (lo + hi) // 2
        if chance_test(mid, probs)[0] < alpha:
            hi = mid
        else:
            lo = mid + 1
    return lo


def ladder(new: Sequence[bool], bests: Sequence[tuple[int, float, Sequence[bool]]], scores: Mapping[str, Any],
           step: float, key: Sequence[Item]) -> dict[str, Any]:
    """The disclosure of a new submission with per-item correctness `new`, given the `bests` it must beat as
    (row id, disclosed AVG, per-item correctness): rounded scores when it is above chance and beats all of them
    (significantly, and by a higher rounded AVG), else a record that names the first best it did not beat."""
    if not above_chance(new, key):
        return {"shown": False, "best_id": None, "best_macro": None, "chance": True}
    shown = rounded(scores, step)
    for row_id, macro, best in bests:
        if not improves(new, best) or shown["macro"] <= macro:
            return {"shown": False, "best_id": row_id, "best_macro": macro}
    return shown


def describe(disclosed: Mapping[str, Any] | None, names: Mapping[str, str]) -> str:
    """The reply's numbers: the disclosed AVG and per-dimension accuracies (`names`: dimension → short label), or
    "no significant improvement" with the earlier disclosed best."""
    if not disclosed:
        return "no score disclosed"
    if not disclosed.get("shown") and disclosed.get("chance"):
        return "not significantly above chance; no score is disclosed"
    if not disclosed.get("shown"):
        best = disclosed.get("best_macro")
        return (f"no significant improvement over the earlier best #{disclosed.get('best_id')}"
                + ("" if best is None else f" (AVG {100 * best:.0f})") + "; no new score is disclosed")
    fmt = "{:.2f}" if disclosed.get("self_reported") else "{:.0f}"
    per = disclosed.get("per_dimension", {})
    text = f"AVG {fmt.format(100 * disclosed['macro'])}" + "".join(
        f", {short} {fmt.format(100 * per[dim])}" for dim, short in names.items() if dim in per)
    if disclosed.get("format_rate") is not None:
        text += f", format {100 * disclosed['format_rate']:.1f} %"
    if disclosed.get("self_reported"):
        text += " (self-reported: the key is public)"
    else:
        text += f" (rounded to {100 * disclosed['step']:g} point(s))"
    return text
