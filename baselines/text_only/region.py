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

``region_match_*`` adds each item's question–option similarity to the cohesion. Where every region of a group
sees the same option sets, cohesion alone cannot tell the group's regions apart, but it still links each
region's golds across its items; the questions of all those items then vote together for one combination. Its
one fitted number is the weight of cohesion against matching (:data:`WEIGHTS`), chosen on the training slides.
"""

from __future__ import annotations

import itertools
import math
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np

from baselines.answerer import Answer, Answerer
from baselines.text_only.filecontext import item_key
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


def _solve(sub: np.ndarray, options: list[list[int]], unary: list[np.ndarray] | None = None,
           weights: Sequence[float] = (1.0,)) -> dict[float, list[int]]:
    """Per weight, per item the index (into its option list) of the combination with the largest weight × summed
    pairwise similarity under `sub` (the region's texts, zero diagonal) plus, when given, each item's `unary`
    score of its chosen option (question–option similarity, one array per item aligned with its options). Every
    combination is scored once for all weights; beyond :data:`MAX_COMBOS`, coordinate ascent per weight."""
    if len(options) == 1 and unary is None:
        return {w: [0] for w in weights}
    if math.prod(len(o) for o in options) <= MAX_COMBOS:
        combos = np.array(list(itertools.product(*[range(len(o)) for o in options])))
        chosen = np.stack([np.array(o)[combos[:, j]] for j, o in enumerate(options)], axis=1)
        cohesion = sub[chosen[:, :, None], chosen[:, None, :]].sum(axis=(1, 2)) / 2
        match = 0.0 if unary is None else sum(u[combos[:, j]] for j, u in enumerate(unary))
        return {w: [int(c) for c in combos[int(np.argmax(w * cohesion + match))]] for w in weights}
    return {w: _ascend(sub, options, unary, w) for w in weights}


def _ascend(sub: np.ndarray, options: list[list[int]], unary: list[np.ndarray] | None, weight: float) -> list[int]:
    """Coordinate ascent from the first options (regions too large to enumerate)."""
    current = [0] * len(options)
    for _ in range(20):
        changed = False
        for j, o in enumerate(options):
            others = [options[x][c] for x, c in enumerate(current) if x != j]
            gain = np.array([weight * sub[t, others].sum() for t in o])
            best = int(np.argmax(gain if unary is None else gain + unary[j]))
            changed |= best != current[j]
            current[j] = best
        if not changed:
            break
    return current


def _regions(items: Sequence[Item]) -> list[list[int]]:
    """Item indices per region, each region's items in content order (dimension, then option texts)."""
    regions: dict[str, list[int]] = defaultdict(list)
    for i, it in enumerate(items):
        regions[region_of(it)].append(i)
    return [sorted(idx, key=lambda i: (items[i].dimension.value, sorted(items[i].options))) for idx in regions.values()]


def _dense(m: Any) -> np.ndarray:
    return np.asarray(m.toarray() if hasattr(m, "toarray") else m, dtype=np.float64)


class _Region(NamedTuple):
    items: list[int]
    """Indices of the region's items, in content order."""
    options: list[list[int]]
    """Per item, its options as rows of :attr:`vecs` (text order)."""
    vecs: Any
    """The region's option texts' vectors (rows: the sorted union of :attr:`options`)."""
    sub: np.ndarray
    """Pairwise similarity of those texts, zero diagonal."""


def _region_problems(items: Sequence[Item], texts: list[str], vecs: Any) -> Iterator[_Region]:
    """Each region of `items` as a problem over its option texts (`vecs`: one row per text of `texts`)."""
    where = {t: i for i, t in enumerate(texts)}
    for idx in _regions(items):
        opts = [sorted(where[o] for o in items[i].options) for i in idx]
        rows = sorted({t for o in opts for t in o})
        local = {t: r for r, t in enumerate(rows)}
        part = vecs[rows]
        sub = _dense(part @ part.T)
        np.fill_diagonal(sub, 0.0)
        yield _Region(idx, [[local[t] for t in o] for o in opts], part, sub)


def _write(picks: list[int], items: Sequence[Item], region: _Region, choice: Sequence[int]) -> None:
    """Record `choice` (an index into each item's text-ordered options) as option indices of the items."""
    ordered = [sorted(items[i].options) for i in region.items]
    for j, i in enumerate(region.items):
        picks[i] = items[i].options.index(ordered[j][choice[j]])


def coherent_choices(items: Sequence[Item], vectorise: Vectorise) -> list[int]:
    """Per item, the option index the region attack picks (see the module docstring)."""
    texts = sorted({o for it in items for o in it.options})
    picks = [0] * len(items)
    # dense rows, or a scipy sparse matrix (TF-IDF: kept sparse)
    for region in _region_problems(items, texts, vectorise(texts)):
        _write(picks, items, region, _solve(region.sub, region.options)[1.0])
    return picks


WEIGHTS = (0.0, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0)
"""Cohesion weights the region-and-question attack chooses from (0: each item's own question–option match)."""

PairVectorise = Callable[[list[str], list[str]], tuple[Any, Any]]
"""(questions, option texts) → (question rows, option rows), one space, unit length."""


def matched_choices(items: Sequence[Item], vectorise: PairVectorise,
                    weights: Sequence[float] = WEIGHTS) -> dict[float, list[int]]:
    """Per cohesion weight, per item the option index of the region attack that also reads the questions: the
    combination of one option per item of a region maximising weight × the options' cohesion plus each item's
    question–option similarity. Cohesion links a region's options across its items, so the question evidence of
    all of them adds up (on region groups, the k coherent combinations are then told apart by all five
    questions at once)."""
    texts = sorted({o for it in items for o in it.options})
    questions = list(dict.fromkeys(it.question for it in items))
    qwhere = {q: i for i, q in enumerate(questions)}
    qvecs, vecs = vectorise(questions, texts)
    out = {w: [0] * len(items) for w in weights}
    for region in _region_problems(items, texts, vecs):
        loc = region.options
        qs = _dense(qvecs[[qwhere[items[i].question] for i in region.items]] @ region.vecs.T)
        unary = [qs[j, o] for j, o in enumerate(loc)]
        for w, choice in _solve(region.sub, loc, unary, weights).items():
            _write(out[w], items, region, choice)
    return out


def best_weight(items: Sequence[Item], per_weight: dict[float, list[int]], train: Sequence[int]) -> float:
    """The weight whose picks are right most often on the items `train` (ties: the first in `per_weight`)."""
    def hits(w: float) -> int:
        return sum(items[i].letters[per_weight[w][i]] == items[i].answer for i in train)
    return max(per_weight, key=hits)


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


def _pairs(vectorise: Vectorise) -> PairVectorise:
    """A pair vectoriser from a text vectoriser: questions and options in one fitted space."""
    def run(questions: list[str], texts: list[str]) -> tuple[Any, Any]:
        rows = vectorise([*questions, *texts])
        return rows[:len(questions)], rows[len(questions):]
    return run


MEASURES = {"tfidf": "word TF-IDF", "char": "character 3–5-gram TF-IDF", "emb": "sentence embeddings"}


def _vectoriser(measure: str, embedder: object | None) -> Vectorise:
    return _embedding(embedder) if measure == "emb" else _tfidf("char" if measure == "char" else "word")


FileVectors = tuple[list[str], Any, list[str], Any]
"""A file's distinct questions (first-seen order), their rows, its option texts (text order), their rows."""

_VECTORS: OrderedDict[tuple[object, ...], FileVectors] = OrderedDict()
_MATCHED: dict[tuple[object, ...], dict[float, list[str]]] = {}
"""Solutions of :class:`RegionMatch` by (measure, embedder, file content): the chosen text per weight and item."""


def clear_cache() -> None:
    """Forget every file's vectors and solutions (benchmarks start cold)."""
    _VECTORS.clear()
    _MATCHED.clear()


def _file_key(measure: str, embedder: object | None, file: Sequence[Item]) -> tuple[object, ...]:
    return (measure, id(embedder), tuple(item_key(it) for it in file))


def file_vectors(measure: str, embedder: object | None, file: Sequence[Item]) -> FileVectors:
    """The vectors of a file's questions and option texts in one space fitted on both, once per measure and file
    content: the region attacks with and without questions, every fold's copy and the shuffle check share them."""
    key = _file_key(measure, embedder, file)
    hit = _VECTORS.get(key)
    if hit is None:
        questions = list(dict.fromkeys(it.question for it in file))
        texts = sorted({o for it in file for o in it.options})
        qvecs, vecs = _pairs(_vectoriser(measure, embedder))(questions, texts)
        hit = (questions, qvecs, texts, vecs)
        while len(_VECTORS) >= 4:
            _VECTORS.popitem(last=False)
        _VECTORS[key] = hit
    return hit


def given_rows(expected: list[str], rows: Any) -> Callable[[list[str]], Any]:
    """A vectoriser that returns `rows`, the vectors of `expected` computed before (checked)."""
    def run(texts: list[str]) -> Any:
        if texts != expected:
            raise RuntimeError("region attack: the file's texts changed since they were vectorised")
        return rows
    return run


class _RegionAnswerer(Answerer):
    """Reads the whole audited file (questions and options, never answers) through :meth:`observe`, as the other
    structure adversaries do, and answers each item with the option text its region's solution chose."""

    def __init__(self, measure: str, seed: int = 0, embedder: object | None = None) -> None:
        self.measure, self.seed, self.embedder = measure, seed, embedder
        self.file: list[Item] | None = None

    def observe(self, items: Sequence[Item]) -> _RegionAnswerer:
        self.file = list(items)
        return self

    def _file(self, items: Sequence[Item]) -> list[Item]:
        ids = {it.id for it in items}
        return self.file if self.file is not None and ids <= {it.id for it in self.file} else list(items)

    def picks(self, file: list[Item]) -> list[int]:
        raise NotImplementedError

    def answer(self, items: Sequence[Item]) -> list[Answer]:
        file = self._file(items)
        by_id = {it.id: it for it in file}
        picks = dict(zip(by_id, self.picks(file), strict=True))
        out = []
        for it in items:
            # the shuffle check reorders an item's options: keep the chosen text, not its letter
            text = by_id[it.id].options[picks[it.id]]
            choice = it.options.index(text) if text in it.options else picks[it.id]
            out.append(Answer(it.letters[choice], tuple(float(j == choice) for j in range(it.n_options))))
        return out


class RegionCoherence(_RegionAnswerer):
    """The region attack as a panel adversary (options only; not trainable)."""

    trainable = False

    def __init__(self, measure: str, seed: int = 0, embedder: object | None = None) -> None:
        super().__init__(measure, seed, embedder)
        self.name = f"region_{measure}"
        self.description = f"a region's items solved together: the options that cohere most ({MEASURES[measure]})"

    def picks(self, file: list[Item]) -> list[int]:
        _, _, texts, vecs = file_vectors(self.measure, self.embedder, file)
        return coherent_choices(file, given_rows(texts, vecs))


class RegionMatch(_RegionAnswerer):
    """The region attack that also reads the questions (:func:`matched_choices`); the one thing it learns from
    labels is the cohesion weight, chosen on the training folds from :data:`WEIGHTS`."""

    trainable = True

    def __init__(self, measure: str, seed: int = 0, embedder: object | None = None) -> None:
        super().__init__(measure, seed, embedder)
        self.name = f"region_match_{measure}"
        self.description = (f"a region's items solved together: options that cohere and match their questions "
                             f"({MEASURES[measure]}; cohesion weight fitted)")
        self.weight = WEIGHTS[2]
        """The cohesion weight (fitted by :meth:`fit`; this default when never fitted)."""

    def _per_weight(self, file: list[Item]) -> dict[float, list[int]]:
        """Per weight, per item of `file` its pick; computed once per file content and measure (every fold's
        instance and the shuffle check read the same solution, kept as texts)."""
        key = _file_key(self.measure, self.embedder, file)
        texts = _MATCHED.get(key)
        if texts is None:
            questions, qvecs, options, vecs = file_vectors(self.measure, self.embedder, file)
            ask, give = given_rows(questions, qvecs), given_rows(options, vecs)
            per_weight = matched_choices(file, lambda qs, ts: (ask(qs), give(ts)))
            texts = {w: [it.options[p] for it, p in zip(file, picks, strict=True)] for w, picks in per_weight.items()}
            if len(_MATCHED) >= 4:
                _MATCHED.clear()
            _MATCHED[key] = texts
        return {w: [it.options.index(t) for it, t in zip(file, ts, strict=True)] for w, ts in texts.items()}

    def fit(self, items: Sequence[Item]) -> RegionMatch:
        file = self._file(items)
        per_weight = self._per_weight(file)
        ids = {it.id for it in items}
        self.weight = best_weight(file, per_weight, [i for i, it in enumerate(file) if it.id in ids])
        return self

    def picks(self, file: list[Item]) -> list[int]:
        return self._per_weight(file)[self.weight]


def region_specs() -> list[StructureSpec]:
    """The region adversaries, in report order (structure adversaries: they read the whole file)."""
    out = []
    for cls in (RegionCoherence, RegionMatch):
        for m in MEASURES:
            probe = cls(m)
            out.append(StructureSpec(probe.name, "structure" if cls is RegionCoherence else "learned",
                                     probe.description, lambda s, m=m, cls=cls: cls(m, s), embedding=m == "emb"))
    return out
