"""Generator-artifact checks: does a simple property of the option set point at the gold option more, or
*less*, often than chance? Both directions leak: a rule far below chance lets a test-taker eliminate options.

Each check looks at the items where the property singles out exactly one option (ties excluded, so chance is
exactly 1/K there) and tests the hit rate with an exact two-sided test.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

from baselines.text_only.text import (
    ABSTAIN,
    HEDGES,
    NEGATIONS,
    count_in,
    edit_degree,
    is_single_edit,
    mean_to_others,
    similarity_matrix,
)
from scale_vqa.dimensions import DIMENSIONS
from scale_vqa.item import Item
from scale_vqa.stats import chance_test

ALPHA = 0.01
"""Significance level used to mark a check as a leak."""


@dataclass(frozen=True)
class Check:
    name: str
    description: str
    n: int
    """Items where the property singles out one option."""
    hits: int
    """… of which that option is the gold one."""
    chance: float
    p_value: float
    """Exact two-sided p-value against chance."""
    per_dimension: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Dimension → (hits, n)."""

    @property
    def rate(self) -> float:
        return self.hits / self.n if self.n else 0.0

    @property
    def direction(self) -> str:
        if self.n == 0 or self.p_value >= ALPHA:
            return "chance"
        return "above" if self.rate > self.chance else "below"

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d.update(rate=self.rate, direction=self.direction,
                 per_dimension={k: {"hits": h, "n": n} for k, (h, n) in self.per_dimension.items()})
        return d


Picker = Callable[[Item], int | None]
"""Index of the one option a property singles out in an item, or None (tie or not applicable)."""


def _unique_arg(values: Sequence[float], pick_max: bool) -> int | None:
    target = max(values) if pick_max else min(values)
    hits = [i for i, v in enumerate(values) if abs(v - target) < 1e-12]
    return hits[0] if len(hits) == 1 else None


def _by(fn: Callable[[Item], Sequence[float]], pick_max: bool = True) -> Picker:
    return lambda item: _unique_arg(fn(item), pick_max)


def _abstain(item: Item) -> int | None:
    hits = [i for i, o in enumerate(item.options) if ABSTAIN.search(o)]
    return hits[0] if len(hits) == 1 else None


def _centrality(measure: str) -> Callable[[Item], list[float]]:
    return lambda item: mean_to_others(similarity_matrix(item.options, measure))


def _nonzero(fn: Callable[[Item], Sequence[float]]) -> Callable[[Item], Sequence[float]]:
    """Only items where the quantity varies between options."""
    return lambda item: fn(item) if len(set(fn(item))) > 1 else [0.0] * item.n_options


PICKERS: dict[str, tuple[Picker, str]] = {
    "gold_most_central_edit": (_by(_centrality("edit")),
                               "gold is the option most similar to the others (word edit similarity)"),
    "gold_most_central_char": (_by(_centrality("char")),
                               "gold is the option most similar to the others (character ratio)"),
    "gold_least_central": (_by(_centrality("jacc"), pick_max=False),
                           "gold is the option least similar to the others (word Jaccard)"),
    "gold_edit_hub": (_by(lambda it: edit_degree(it.options)),
                      "gold is the option that most others are single word-edits of"),
    "gold_longest": (_by(lambda it: [len(o) for o in it.options]), "gold is the longest option"),
    "gold_shortest": (_by(lambda it: [len(o) for o in it.options], pick_max=False), "gold is the shortest option"),
    "gold_most_hedged": (_by(_nonzero(lambda it: [count_in(o, HEDGES) for o in it.options])),
                         "gold has the most hedging words"),
    "gold_least_hedged": (_by(_nonzero(lambda it: [count_in(o, HEDGES) for o in it.options]), pick_max=False),
                          "gold has the fewest hedging words"),
    "gold_most_negated": (_by(_nonzero(lambda it: [count_in(o, NEGATIONS) for o in it.options])),
                          "gold has the most negation words"),
    "gold_least_negated": (_by(_nonzero(lambda it: [count_in(o, NEGATIONS) for o in it.options]), pick_max=False),
                           "gold has the fewest negation words"),
    "abstain_is_gold": (_abstain, "the one abstain-style option ('none of the above', 'cannot be determined') "
                                  "is gold"),
}


def run_check(name: str, description: str, items: Sequence[Item], pick: Picker) -> Check:
    probs: list[float] = []
    hits = 0
    per_dim: dict[str, list[int]] = {d.value: [0, 0] for d in DIMENSIONS}
    for item in items:
        idx = pick(item)
        if idx is None:
            continue
        hit = item.letters[idx] == item.answer
        probs.append(1 / item.n_options)
        hits += hit
        per_dim[item.dimension.value][0] += hit
        per_dim[item.dimension.value][1] += 1
    _, p_two = chance_test(hits, probs)
    chance = sum(probs) / len(probs) if probs else 0.0
    return Check(name, description, len(probs), hits, chance, p_two,
                 {k: (h, n) for k, (h, n) in per_dim.items() if n})


def letter_checks(items: Sequence[Item]) -> list[Check]:
    """Letter balance: for each letter, how often it is gold among items that have it, vs 1/K."""
    out = []
    letters = sorted({letter for it in items for letter in it.letters})
    for letter in letters:
        having = [it for it in items if letter in it.letters]
        out.append(run_check(f"letter_{letter}", f"gold letter is {letter}", having,
                             lambda it, letter=letter: it.letters.index(letter)))
    return out


@dataclass(frozen=True)
class EditProfile:
    """How distractors relate to the gold: single word-edits of the gold vs of each other."""

    gold_pairs: int
    gold_single_edits: int
    other_pairs: int
    other_single_edits: int
    length_rank_counts: dict[int, int]
    """Gold length rank (1 = longest) → items, among items whose options all differ in length."""

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["gold_share"] = self.gold_single_edits / self.gold_pairs if self.gold_pairs else 0.0
        d["other_share"] = self.other_single_edits / self.other_pairs if self.other_pairs else 0.0
        return d


def edit_profile(items: Sequence[Item]) -> EditProfile:
    gp = gs = op = os_ = 0
    ranks: Counter[int] = Counter()
    for item in items:
        g = item.letters.index(item.answer)
        opts = item.options
        for i in range(len(opts)):
            for j in range(i + 1, len(opts)):
                single = is_single_edit(opts[i], opts[j])
                if g in (i, j):
                    gp, gs = gp + 1, gs + single
                else:
                    op, os_ = op + 1, os_ + single
        lengths = [len(o) for o in opts]
        if len(set(lengths)) == len(lengths):
            ranks[1 + sum(v > lengths[g] for v in lengths)] += 1
    return EditProfile(gp, gs, op, os_, dict(sorted(ranks.items())))


def artifact_checks(items: Sequence[Item]) -> list[Check]:
    """Every option-set check, then letter balance."""
    checks = [run_check(name, desc, items, pick) for name, (pick, desc) in PICKERS.items()]
    return checks + letter_checks(items)
