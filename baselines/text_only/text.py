"""Text measures over an item's question and option set, shared by the heuristics, the learned scorers and
the audit's artifact checks. Standard library plus rapidfuzz (edit distances), part of the ``audit`` extra."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from difflib import SequenceMatcher
from functools import lru_cache

from rapidfuzz.distance import Indel, Levenshtein

_WORD = re.compile(r"[a-z0-9]+(?:['’-][a-z0-9]+)*")

HEDGES = frozenset((
    "may", "might", "possibly", "possible", "probably", "probable", "likely", "unlikely", "suggest", "suggests",
    "suggestive", "suggesting", "could", "appear", "appears", "apparent", "consistent", "compatible", "suspicious",
    "uncertain", "perhaps", "potentially", "presumably", "some", "occasional", "occasionally", "mild", "mildly",
    "slight", "slightly", "minimal", "somewhat", "partially", "partial", "variable", "focal", "focally",
))
"""Hedging / vagueness words (Gururangan et al. 2018 found such cues alone predict NLI labels)."""

NEGATIONS = frozenset((
    "no", "not", "without", "absence", "absent", "lack", "lacks", "lacking", "never", "none", "neither", "nor",
    "negative", "free", "cannot", "n't", "nothing", "unremarkable", "devoid",
))

ABSTAIN = re.compile(
    r"\b(none of the (above|options|listed)|all of the above|cannot be (determined|assessed|evaluated|excluded)"
    r"|can ?not be determined|not (possible|able) to (determine|assess)|insufficient|indeterminate"
    r"|not enough (information|evidence)|undetermin)", re.IGNORECASE)
"""Abstain-style options ("none of the above", "cannot be determined", …)."""


@lru_cache(maxsize=65536)
def words(text: str) -> tuple[str, ...]:
    """Lower-cased word tokens."""
    return tuple(_WORD.findall(text.lower().replace("n’t", "n't")))


def char_ratio(a: str, b: str) -> float:
    """Character-level similarity in [0, 1]: 2·LCS / (len a + len b) over lower-cased text (rapidfuzz's
    normalised Indel similarity; difflib's ``ratio`` approximates the same quantity, 50× slower)."""
    return Indel.normalized_similarity(a.lower(), b.lower())


def word_edit_distance(a: Sequence[str], b: Sequence[str]) -> int:
    """Levenshtein distance between two token sequences."""
    return Levenshtein.distance(list(a), list(b))


def word_edit_similarity(a: str, b: str) -> float:
    """1 − word-level edit distance / the longer length, in [0, 1]."""
    wa, wb = words(a), words(b)
    longest = max(len(wa), len(wb))
    return 1.0 if longest == 0 else 1 - word_edit_distance(wa, wb) / longest


def jaccard(a: str, b: str) -> float:
    """Jaccard similarity of the two texts' word sets."""
    sa, sb = set(words(a)), set(words(b))
    union = sa | sb
    return 1.0 if not union else len(sa & sb) / len(union)


def is_single_edit(a: str, b: str) -> bool:
    """True when b is a changed by one contiguous word-span edit (replace, insert or delete) that leaves at
    least half of the shorter text's words in place."""
    wa, wb = words(a), words(b)
    if wa == wb:
        return False
    ops = SequenceMatcher(None, wa, wb, autojunk=False).get_opcodes()
    kept = sum(i2 - i1 for tag, i1, i2, _, _ in ops if tag == "equal")
    return sum(tag != "equal" for tag, *_ in ops) == 1 and kept >= max(1, min(len(wa), len(wb)) / 2)


SIMILARITIES = {"char": char_ratio, "edit": word_edit_similarity, "jacc": jaccard}


@lru_cache(maxsize=16384)
def similarity_matrix(options: tuple[str, ...], measure: str) -> tuple[tuple[float, ...], ...]:
    """Symmetric option × option similarity under `measure` (``char``, ``edit`` or ``jacc``); diagonal 1.

    Cached: the heuristics, the learned features and the artifact checks all ask for the same matrices."""
    n = len(options)
    m = [[1.0] * n for _ in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            m[i][j] = m[j][i] = pair_similarity(options[i], options[j], measure)
    return tuple(tuple(row) for row in m)


def pair_similarity(a: str, b: str, measure: str) -> float:
    """Similarity of two texts, cached per unordered pair (shuffled option orders reuse it)."""
    return _pair_similarity(a, b, measure) if a <= b else _pair_similarity(b, a, measure)


@lru_cache(maxsize=262144)
def _pair_similarity(a: str, b: str, measure: str) -> float:
    return SIMILARITIES[measure](a, b)


def mean_to_others(matrix: Sequence[Sequence[float]]) -> list[float]:
    """Each option's mean similarity to the other options (its "centrality" in the option set)."""
    n = len(matrix)
    return [(sum(row) - row[i]) / (n - 1) for i, row in enumerate(matrix)]


def unique_words(options: Sequence[str]) -> list[int]:
    """For each option, how many of its distinct words occur in no other option."""
    sets = [set(words(o)) for o in options]
    return [len(s - set().union(*(t for j, t in enumerate(sets) if j != i))) for i, s in enumerate(sets)]


def diff_words(options: Sequence[str]) -> list[tuple[str, ...]]:
    """For each option, its words that are not shared by every other option (what an edit changed)."""
    sets = [set(words(o)) for o in options]
    common = set.intersection(*sets) if sets else set()
    return [tuple(w for w in words(o) if w not in common) for o in options]


@lru_cache(maxsize=16384)
def edit_degree(options: tuple[str, ...]) -> tuple[int, ...]:
    """For each option, how many other options are a single contiguous word edit of it."""
    n = len(options)
    deg = [0] * n
    for i in range(n):
        for j in range(i + 1, n):
            if is_single_edit(options[i], options[j]):
                deg[i] += 1
                deg[j] += 1
    return tuple(deg)


def count_in(text: str, vocabulary: frozenset[str]) -> int:
    return sum(w in vocabulary for w in words(text))


def overlap(question: str, option: str) -> float:
    """Share of the option's distinct words that occur in the question."""
    so = set(words(option))
    return 0.0 if not so else len(so & set(words(question))) / len(so)


def idf_table(texts: Iterable[str]) -> dict[str, float]:
    """Smoothed inverse document frequencies, ln((1 + N) / (1 + df)) + 1."""
    df: Counter[str] = Counter()
    n = 0
    for text in texts:
        n += 1
        df.update(set(words(text)))
    return {w: math.log((1 + n) / (1 + c)) + 1 for w, c in df.items()}


def mean_idf(text: str, idf: dict[str, float], default: float) -> float:
    ws = words(text)
    return sum(idf.get(w, default) for w in ws) / len(ws) if ws else 0.0
