"""Label-free facts about a whole MCQ file that a construction can leak through: how often each option text
recurs across items, which items share one option set, and how each question matches each of its options.

A :class:`FileContext` is built from the questions and options of every item of the file (never the answers),
once per file and measure, and shared by every adversary that reads it (:func:`file_context` caches it). It
does not depend on option order, so an item and its shuffled copy read the same facts.

Items that share an option set can be *solved jointly*: if k items offer the same k texts and each text is the
answer of one of them (a matched block), assigning texts to questions one-to-one by maximum total match
(:func:`joint_assignment`) beats answering each item on its own.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter, OrderedDict
from collections.abc import Sequence

import numpy as np

from baselines.answerer import tie_break_rng
from baselines.text_only.matching import pair_scores
from scale_vqa.item import Item

JOINT_MAX_ITEMS = 512
"""Shared option sets larger than this are not matched blocks (e.g. a yes/no set reused file-wide); their items
are answered alone, which also bounds the assignment problem's size."""

COMBINED = {"tfidf": ("tfidf_word", "tfidf_char")}
"""Measures that average others (``tfidf``: word and character n-gram cosines)."""


def normalise(text: str) -> str:
    """The form under which option texts count as equal: case-folded, whitespace collapsed."""
    return " ".join(text.casefold().split())


def item_key(item: Item) -> tuple[str, str, tuple[str, ...]]:
    """What identifies an item in its file, whatever the order of its options."""
    return item.id, item.question, tuple(sorted(item.options))


def option_set(item: Item) -> frozenset[str]:
    return frozenset(normalise(o) for o in item.options)


def joint_assignment(scores: np.ndarray, rng_parts: Sequence[object], capacity: int = 1) -> list[int]:
    """Maximum-weight assignment of rows (questions) to columns (texts), each column used at most `capacity`
    times (scipy's ``linear_sum_assignment``); returns each row's column. Columns are visited in a seeded random
    order, so ties do not favour any text."""
    from scipy.optimize import linear_sum_assignment

    rows, cols = scores.shape
    capacity = max(capacity, math.ceil(rows / max(1, cols)))
    perm = np.array(tie_break_rng(*rng_parts).sample(range(cols), cols), dtype=np.int64)
    tiled = np.tile(scores[:, perm], (1, capacity))
    r, c = linear_sum_assignment(np.nan_to_num(tiled, nan=0.0, posinf=1e12, neginf=-1e12), maximize=True)
    out = [-1] * rows
    for i, j in zip(r.tolist(), c.tolist(), strict=True):
        out[i] = int(perm[j % cols])
    return out


class FileContext:
    """Option-text frequencies, groups of items sharing an option set, and question–option scores of a file."""

    def __init__(self, items: Sequence[Item], embedder: object | None = None) -> None:
        self.items = list(items)
        self.embedder = embedder
        self.index = {item_key(it): i for i, it in enumerate(self.items)}
        self.frequency: Counter[str] = Counter(t for it in self.items for t in option_set(it))
        by_set: dict[frozenset[str], list[int]] = {}
        for i, it in enumerate(self.items):
            by_set.setdefault(option_set(it), []).append(i)
        self.groups = [members for members in by_set.values() if len(members) > 1]
        self.group_of = [-1] * len(self.items)
        for g, members in enumerate(self.groups):
            for i in members:
                self.group_of[i] = g
        self.group_texts = [sorted(option_set(self.items[m[0]])) for m in self.groups]
        self._scores: dict[str, list[dict[str, float]]] = {}
        self._joint: dict[tuple[str, int], list[str | None]] = {}
        self.memo: dict[object, object] = {}
        """What adversaries derive from this file alone (label-free), kept with it for reuse."""

    def covers(self, items: Sequence[Item]) -> bool:
        return all(item_key(it) in self.index for it in items)

    def position(self, item: Item) -> int:
        return self.index[item_key(item)]

    # ---- per option ----------------------------------------------------------------------------------------

    def frequencies(self, item: Item) -> list[float]:
        """How many items of the file offer each of `item`'s option texts."""
        return [float(self.frequency[normalise(o)]) for o in item.options]

    def group_size(self, item: Item) -> int:
        g = self.group_of[self.position(item)]
        return 1 if g < 0 else len(self.groups[g])

    def scores(self, measure: str) -> list[dict[str, float]]:
        """Per item of the file: normalised option text → question–option score."""
        if measure not in self._scores:
            if measure in COMBINED:
                parts = [self.scores(m) for m in COMBINED[measure]]
                self._scores[measure] = [{t: float(np.mean([p[i][t] for p in parts])) for t in parts[0][i]}
                                         for i in range(len(self.items))]
            else:
                flat = pair_scores(self.items, measure, self.embedder)
                self._scores[measure] = [{normalise(o): float(s) for o, s in zip(it.options, row, strict=True)}
                                         for it, row in zip(self.items, flat, strict=True)]
        return self._scores[measure]

    def item_scores(self, item: Item, measure: str) -> list[float]:
        """`item`'s question–option scores, in its option order."""
        row = self.scores(measure)[self.position(item)]
        return [row[normalise(o)] for o in item.options]

    def column_z(self, item: Item, measure: str) -> list[float]:
        """For an item in a group: each option's score for this question, standardised against the same text's
        scores for the group's other questions (which question a text fits best). 0 outside groups."""
        i = self.position(item)
        g = self.group_of[i]
        if g < 0:
            return [0.0] * item.n_options
        table = self.scores(measure)
        out = []
        for o in item.options:
            t = normalise(o)
            col = np.array([table[m][t] for m in self.groups[g]])
            sd = float(col.std())
            out.append(0.0 if sd < 1e-12 else (table[i][t] - float(col.mean())) / sd)
        return out

    # ---- joint solving -------------------------------------------------------------------------------------

    def joint(self, measure: str, seed: int) -> list[str | None]:
        """Per item: the text a joint assignment within its group gives it (None for items in no group)."""
        key = (measure, seed)
        if key not in self._joint:
            table = self.scores(measure)
            out: list[str | None] = [None] * len(self.items)
            for members, texts in zip(self.groups, self.group_texts, strict=True):
                if len(members) > JOINT_MAX_ITEMS:
                    continue
                s = np.array([[table[m][t] for t in texts] for m in members])
                for m, col in zip(members, joint_assignment(s, (seed, measure, *texts)), strict=True):
                    out[m] = texts[col]
            self._joint[key] = out
        return self._joint[key]

    def assigned(self, item: Item, measure: str, seed: int) -> list[float]:
        """1 for the option the joint assignment gives `item`, else 0 (all 0 outside groups)."""
        text = self.joint(measure, seed)[self.position(item)]
        return [float(text is not None and normalise(o) == text) for o in item.options]

    def solve_jointly(self, items: Sequence[Item], item_scores: Sequence[Sequence[float]],
                      rng_parts: Sequence[object]) -> list[int | None]:
        """Option index per item from scores given by the caller, assigned jointly among the items of `items`
        that share a group (each text used at most ⌈group size / texts⌉ times); None for items whose group has
        no other member in `items` (the caller answers those alone)."""
        out: list[int | None] = [None] * len(items)
        by_group: dict[int, list[int]] = {}
        for a, it in enumerate(items):
            g = self.group_of[self.position(it)]
            if g >= 0:
                by_group.setdefault(g, []).append(a)
        for g, members in by_group.items():
            if len(members) < 2 or len(members) > JOINT_MAX_ITEMS:
                continue
            texts = self.group_texts[g]
            s = np.full((len(members), len(texts)), -np.inf)
            for r, a in enumerate(members):
                for o, v in zip(items[a].options, item_scores[a], strict=True):
                    j = texts.index(normalise(o))
                    s[r, j] = max(s[r, j], float(v))
            capacity = math.ceil(len(self.groups[g]) / len(texts))
            cols = joint_assignment(s, (*rng_parts, *texts), capacity)
            for a, col in zip(members, cols, strict=True):
                opts = [normalise(o) for o in items[a].options]
                out[a] = opts.index(texts[col])
        return out


_CACHE: OrderedDict[tuple[str, int], FileContext] = OrderedDict()
_CACHE_SIZE = 4


def fingerprint(items: Sequence[Item]) -> str:
    """A digest of the file's ids, questions and option sets (not of option order or answers)."""
    h = hashlib.sha256()
    for key in sorted(item_key(it) for it in items):
        h.update(repr(key).encode())
    return h.hexdigest()


def file_context(items: Sequence[Item], embedder: object | None = None) -> FileContext:
    """The :class:`FileContext` of `items`, built once and shared (the last few files are kept)."""
    key = (fingerprint(items), id(embedder))
    ctx = _CACHE.get(key)
    if ctx is None:
        ctx = FileContext(items, embedder)
        _CACHE[key] = ctx
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    else:
        _CACHE.move_to_end(key)
    return ctx


def structure_summary(items: Sequence[Item]) -> dict[str, int]:
    """What a file offers the structure adversaries: option texts offered by more than one item, the most items
    offering one text, groups of items sharing an option set, the items in them, and the largest group."""
    ctx = file_context(items)
    recurring = [c for c in ctx.frequency.values() if c > 1]
    return {"recurring_texts": len(recurring), "max_frequency": max(ctx.frequency.values(), default=0),
            "shared_sets": len(ctx.groups), "items_in_shared_sets": sum(len(g) for g in ctx.groups),
            "largest_shared_set": max((len(g) for g in ctx.groups), default=0)}
