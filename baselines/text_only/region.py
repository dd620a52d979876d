"""The region attack: the items of one imaged region solved together.

The items of a region (same ``path_id``, else the same images) describe one piece of tissue, so their golds
cohere: the finding named in one recurs in another, the diagnosis fits the pattern. An attacker who groups a
file's items by region picks, in each item, the option that makes the region's chosen options cohere most:
the combination of one option per item with the largest summed pairwise similarity. On the released splits,
where every distractor is an edit of its own gold, this finds little; on a construction that fills distractors
with *other regions'* golds it finds the region's own golds, unless every region of a block is also a block-mate
in every other dimension (``scale-vqa curate --region-groups``).

Options are taken in text order and a region's items in content order, so regions that see the same option sets
get the same texts: the attack never reads option order. No labels are used (not trainable).
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from baselines.answerer import Answer, Answerer
from baselines.text_only.structure import StructureSpec
from scale_vqa.item import Item

MAX_COMBOS = 4096
"""Regions with more option combinations than this are solved by coordinate ascent instead of enumeration."""

Vectorise = Callable[[list[str]], Any]
"""Texts → row vectors, dense or scipy sparse (unit length, so a dot product is a cosine)."""


def region_of(item: Item) -> str:
    """The region key: :attr:`~scale_vqa.item.Item.region`, or the item itself when the release names none."""
    key = item.region
    return key if key.strip("|") else f"item:{item.id}"


def _best(sub: np.ndarray, options: list[list[int]]) -> list[int]:
    """Per item, the index (into its option list) of the most coherent combination under `sub` (pairwise
    similarity of the region's texts, zero diagonal)."""
    if len(options) == 1:
        return [0]
    if math.prod(len(o) for o in options) <= MAX_COMBOS:
        combos = np.array(list(itertools.product(*[range(len(o)) for o in options])))
        chosen = np.stack([np.array(o)[combos[:, j]] for j, o in enumerate(options)], axis=1)
        score = sub[chosen[:, :, None], chosen[:, None, :]].sum(axis=(1, 2))
        return [int(c) for c in combos[int(np.argmax(score))]]
    current = [0] * len(options)
    for _ in range(20):  # coordinate ascent from the first options
        changed = False
        for j, o in enumerate(options):
            others = [options[x][c] for x, c in enumerate(current) if x != j]
            best = int(np.argmax([sub[t, others].sum() for t in o]))
            changed |= best != current[j]
            current[j] = best
        if not changed:
            break
    return current


def coherent_choices(items: Sequence[Item], vectorise: Vectorise) -> list[int]:
    """Per item, the option index the region attack picks (see the module docstring)."""
    texts = sorted({o for it in items for o in it.options})
    where = {t: i for i, t in enumerate(texts)}
    vecs = vectorise(texts)  # dense rows, or a scipy sparse matrix (TF-IDF: kept sparse)
    regions: dict[str, list[int]] = defaultdict(list)
    for i, it in enumerate(items):
        regions[region_of(it)].append(i)
    picks = [0] * len(items)
    for idx in regions.values():
        idx = sorted(idx, key=lambda i: (items[i].dimension.value, sorted(items[i].options)))
        opts = [sorted(where[o] for o in items[i].options) for i in idx]
        rows = sorted({t for o in opts for t in o})
        local = {t: r for r, t in enumerate(rows)}
        part = vecs[rows]
        prod = part @ part.T
        sub = np.asarray(prod.toarray() if hasattr(prod, "toarray") else prod, dtype=np.float64)
        np.fill_diagonal(sub, 0.0)
        choice = _best(sub, [[local[t] for t in o] for o in opts])
        for j, i in enumerate(idx):
            picks[i] = items[i].options.index(texts[opts[j][choice[j]]])
    return picks


def _tfidf(analyzer: str) -> Vectorise:
    def run(texts: list[str]) -> np.ndarray:
        from sklearn.feature_extraction.text import TfidfVectorizer

        if analyzer == "word":
            vec = TfidfVectorizer(ngram_range=(1, 2), stop_words="english", sublinear_tf=True)
        else:
            vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True)
        try:
            return vec.fit_transform(texts)
        except ValueError:  # an empty vocabulary: no lexical signal
            return np.zeros((len(texts), 1))
    return run


def _embedding(embedder: object | None) -> Vectorise:
    def run(texts: list[str]) -> np.ndarray:
        from baselines.text_only.embedding import shared_embedder

        return (embedder or shared_embedder()).encode(texts)  # type: ignore[attr-defined]
    return run


MEASURES = {"tfidf": "word TF-IDF", "char": "character 3–5-gram TF-IDF", "emb": "sentence embeddings"}


class RegionCoherence(Answerer):
    """The region attack as a panel adversary: it reads the whole audited file (questions and options, never
    answers) through :meth:`observe`, as the other structure adversaries do."""

    trainable = False

    def __init__(self, measure: str, seed: int = 0, embedder: object | None = None) -> None:
        self.measure, self.seed, self.embedder = measure, seed, embedder
        self.name = f"region_{measure}"
        self.description = f"a region's items solved together: the options that cohere most ({MEASURES[measure]})"
        self.file: list[Item] | None = None

    def observe(self, items: Sequence[Item]) -> RegionCoherence:
        self.file = list(items)
        return self

    def answer(self, items: Sequence[Item]) -> list[Answer]:
        ids = {it.id for it in items}
        file = self.file if self.file is not None and ids <= {it.id for it in self.file} else list(items)
        vectorise = _embedding(self.embedder) if self.measure == "emb" else _tfidf(
            "char" if self.measure == "char" else "word")
        by_id = {it.id: it for it in file}
        picks = dict(zip(by_id, coherent_choices(file, vectorise), strict=True))
        out = []
        for it in items:
            # the shuffle check reorders an item's options: keep the chosen text, not its letter
            text = by_id[it.id].options[picks[it.id]]
            choice = it.options.index(text) if text in it.options else picks[it.id]
            out.append(Answer(it.letters[choice], tuple(float(j == choice) for j in range(it.n_options))))
        return out


def region_specs() -> list[StructureSpec]:
    """The region adversaries, in report order (structure adversaries: they read the whole file)."""
    out = []
    for m in MEASURES:
        probe = RegionCoherence(m)
        out.append(StructureSpec(probe.name, "structure", probe.description, lambda s, m=m: RegionCoherence(m, s),
                                 embedding=m == "emb"))
    return out
