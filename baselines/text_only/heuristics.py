"""Text-only heuristic answerers: rules over the question and option set, no training (except the position
prior, which learns gold-letter frequencies). Each picks the option with the highest score; ties are broken
at random with a seed, so a rule that cannot tell options apart scores chance, not "always A"."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from baselines.answerer import Answerer, ScoringAnswerer
from baselines.text_only.text import (
    HEDGES,
    NEGATIONS,
    count_in,
    edit_degree,
    idf_table,
    mean_idf,
    mean_to_others,
    overlap,
    similarity_matrix,
    unique_words,
)
from scale_vqa.item import Item

ScoreFn = Callable[[Item], list[float]]


def _centroid(measure: str) -> ScoreFn:
    return lambda item: mean_to_others(similarity_matrix(item.options, measure))


def _odd_one_out(item: Item) -> list[float]:
    return [-s for s in mean_to_others(similarity_matrix(item.options, "jacc"))]


RULES: dict[str, tuple[ScoreFn, str]] = {
    "longest": (lambda it: [float(len(o)) for o in it.options], "the longest option (characters)"),
    "shortest": (lambda it: [-float(len(o)) for o in it.options], "the shortest option"),
    "question_overlap": (lambda it: [overlap(it.question, o) for o in it.options],
                         "the option sharing most words with the question"),
    "hedge": (lambda it: [float(count_in(o, HEDGES)) for o in it.options], "the most hedged option"),
    "negation": (lambda it: [float(count_in(o, NEGATIONS)) for o in it.options], "the option with most negations"),
    "centroid_char": (_centroid("char"), "the option most similar to the others (character ratio)"),
    "centroid_edit": (_centroid("edit"), "the option most similar to the others (word edit distance)"),
    "centroid_jacc": (_centroid("jacc"), "the option most similar to the others (word Jaccard)"),
    "min_unique": (lambda it: [-float(u) for u in unique_words(it.options)],
                   "the option with fewest words found in no other option"),
    "edit_hub": (lambda it: [float(d) for d in edit_degree(it.options)],
                 "the option that most other options are single word-edits of"),
    "odd_one_out": (_odd_one_out, "the option least similar to the others (anti-centroid)"),
}
"""Untrained rules: name → (option scores, description)."""


class Heuristic(ScoringAnswerer):
    """A fixed rule from :data:`RULES`."""

    def __init__(self, name: str, seed: int = 0) -> None:
        super().__init__(seed)
        if name not in RULES:
            raise KeyError(name)
        self.name = name
        self.fn, self.description = RULES[name]

    def option_scores(self, item: Item) -> list[float]:
        return self.fn(item)


class Specificity(ScoringAnswerer):
    """The option with the highest mean inverse document frequency (the most specific wording). Document
    frequencies come from the option texts being answered (label-free)."""

    name = "specificity"
    description = "the most specific option (highest mean IDF)"

    def __init__(self, seed: int = 0) -> None:
        super().__init__(seed)
        self.idf: dict[str, float] = {}

    def prepare(self, items: Sequence[Item]) -> None:
        self.idf = idf_table(o for item in items for o in item.options)

    def option_scores(self, item: Item) -> list[float]:
        default = max(self.idf.values(), default=1.0)
        return [mean_idf(o, self.idf, default) for o in item.options]


class RandomGuess(ScoringAnswerer):
    """Uniformly random letter (seeded): the chance baseline."""

    name = "random"
    description = "a uniformly random option (seeded)"

    def option_scores(self, item: Item) -> list[float]:
        return [0.0] * item.n_options


class PositionPrior(ScoringAnswerer):
    """The gold letter most frequent in the training items (ties at random): a pure position bias."""

    name = "position_prior"
    description = "the most frequent gold letter of the training items"
    trainable = True

    def __init__(self, seed: int = 0) -> None:
        super().__init__(seed)
        self.counts: Counter[str] = Counter()

    def fit(self, items: Sequence[Item]) -> Answerer:
        self.counts = Counter(item.answer for item in items)
        return self

    def option_scores(self, item: Item) -> list[float]:
        return [float(self.counts[letter]) for letter in item.letters]


@dataclass(frozen=True)
class HeuristicSpec:
    name: str
    description: str
    make: Callable[[int], Answerer]


def heuristic_specs() -> list[HeuristicSpec]:
    """Every heuristic answerer, in report order."""
    specs = [HeuristicSpec("random", RandomGuess.description, lambda s: RandomGuess(s)),
             HeuristicSpec("position_prior", PositionPrior.description, lambda s: PositionPrior(s))]
    specs += [HeuristicSpec(name, desc, lambda s, n=name: Heuristic(n, s)) for name, (_, desc) in RULES.items()]
    specs.append(HeuristicSpec("specificity", Specificity.description, lambda s: Specificity(s)))
    return specs
