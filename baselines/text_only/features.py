"""Per-option feature rows for the learned text-only scorers: one row per (item, option).

Dense features are heuristic quantities, each also normalised *within its item* (z-score, is-max, is-min), so a
model learns "the most central option" rather than absolute values; plus position and position × dimension.
Sparse features are TF-IDF of the option text and of its "diff text" (the words an edit changed).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from baselines.text_only.text import (
    ABSTAIN,
    HEDGES,
    NEGATIONS,
    count_in,
    diff_words,
    edit_degree,
    idf_table,
    mean_idf,
    mean_to_others,
    overlap,
    similarity_matrix,
    unique_words,
    words,
)
from scale_vqa.dimensions import DIMENSIONS
from scale_vqa.item import LETTERS, Item

QUANTITIES = (
    "len_chars", "len_words", "cent_char", "cent_edit", "cent_jacc", "max_sim_char", "min_sim_char",
    "unique_words", "unique_share", "edit_degree", "hedges", "negations", "question_overlap", "mean_idf",
    "abstain",
)


def option_quantities(item: Item, idf: dict[str, float], idf_default: float) -> np.ndarray:
    """Raw heuristic quantities, shape (n_options, len(QUANTITIES))."""
    q = _label_free_quantities(item.question, item.options).copy()
    q[:, QUANTITIES.index("mean_idf")] = [mean_idf(o, idf, idf_default) for o in item.options]
    return q


@lru_cache(maxsize=32768)
def _label_free_quantities(question: str, opts: tuple[str, ...]) -> np.ndarray:
    """Every quantity except the IDF one (which depends on the training items), cached per item text."""
    char = similarity_matrix(opts, "char")
    cent = [mean_to_others(similarity_matrix(opts, m)) for m in ("char", "edit", "jacc")]
    uniq = unique_words(opts)
    deg = edit_degree(opts)
    rows = []
    for i, o in enumerate(opts):
        others = [char[i][j] for j in range(len(opts)) if j != i]
        n_words = len(words(o))
        rows.append([
            len(o), n_words, cent[0][i], cent[1][i], cent[2][i], max(others), min(others),
            uniq[i], uniq[i] / max(1, len(set(words(o)))), deg[i], count_in(o, HEDGES), count_in(o, NEGATIONS),
            overlap(question, o), 0.0, float(bool(ABSTAIN.search(o))),
        ])
    return np.asarray(rows, dtype=np.float64)


def within_item(q: np.ndarray) -> np.ndarray:
    """Raw values plus, per quantity, the within-item z-score, is-max and is-min indicators."""
    mean = q.mean(axis=0, keepdims=True)
    std = q.std(axis=0, keepdims=True)
    z = np.where(std > 1e-12, (q - mean) / np.where(std > 1e-12, std, 1.0), 0.0)
    is_max = (q >= q.max(axis=0, keepdims=True) - 1e-12) & (std > 1e-12)
    is_min = (q <= q.min(axis=0, keepdims=True) + 1e-12) & (std > 1e-12)
    return np.hstack([q, z, is_max, is_min]).astype(np.float64)


def position_features(item: Item) -> np.ndarray:
    """One-hot option position, and position × dimension (gold letters are not balanced per dimension)."""
    n, k = item.n_options, len(LETTERS)
    pos = np.eye(k)[:n]
    d = DIMENSIONS.index(item.dimension)
    pos_dim = np.zeros((n, k * len(DIMENSIONS)))
    pos_dim[np.arange(n), d * k + np.arange(n)] = 1.0
    return np.hstack([pos, pos_dim])


class DenseFeaturizer:
    """Dense option features; the IDF table is learned from the training items' options (label-free)."""

    def fit(self, items: Sequence[Item]) -> DenseFeaturizer:
        self.idf = idf_table(o for item in items for o in item.options)
        self.idf_default = max(self.idf.values(), default=1.0)
        return self

    def transform(self, items: Sequence[Item]) -> np.ndarray:
        blocks = [np.hstack([within_item(option_quantities(item, self.idf, self.idf_default)),
                             position_features(item)]) for item in items]
        return np.vstack(blocks)


class Tfidf:
    """TF-IDF over texts: scikit-learn's ``CountVectorizer`` (given `count` parameters) then ``TfidfTransformer``,
    as ``TfidfVectorizer`` composes them. :meth:`fit_transform` reads the texts once and returns exactly what
    :meth:`transform` would give them (``TfidfVectorizer.fit_transform`` does not: it normalises rows whose
    columns are not yet sorted, so its values differ in the last bits, and fit-then-transform reads them twice)."""

    def __init__(self, *, sublinear_tf: bool = False, **count: object) -> None:
        from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer

        self.count = CountVectorizer(dtype=np.float64, **count)  # type: ignore[arg-type]
        self.tfidf = TfidfTransformer(sublinear_tf=sublinear_tf)

    def fit_transform(self, texts: Sequence[str]) -> object:
        """Fit the vocabulary and IDF on `texts`; their TF-IDF matrix. Raises ``ValueError`` on an empty
        vocabulary."""
        counts = self.count.fit_transform(texts)
        counts.sort_indices()
        return self.tfidf.fit(counts).transform(counts)

    def transform(self, texts: Sequence[str]) -> object:
        return self.tfidf.transform(self.count.transform(texts))


def option_texts(items: Sequence[Item]) -> tuple[list[str], list[str]]:
    """Per option row: the option text and its diff text (words not shared by every option of the item)."""
    texts, diffs = [], []
    for item in items:
        texts.extend(item.options)
        diffs.extend(" ".join(d) for d in diff_words(item.options))
    return texts, diffs


def group_offsets(items: Sequence[Item]) -> np.ndarray:
    """Start row of each item's options in the stacked feature matrix, plus the total at the end."""
    return np.concatenate([[0], np.cumsum([item.n_options for item in items])])


def gold_vector(items: Sequence[Item]) -> np.ndarray:
    """1 for each item's gold option row, 0 elsewhere."""
    return np.concatenate([[float(letter == item.answer) for letter in item.letters] for item in items])
