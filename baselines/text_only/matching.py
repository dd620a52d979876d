"""Question–option matching scores: how well each option answers *its* question, by text alone.

Three label-free measures, each fitted on the texts of the whole file being answered (never on gold labels):

* ``tfidf_word`` / ``tfidf_char``: cosine between the question and the option under TF-IDF of word 1–2-grams
  (English stop words removed) or of character 3–5-grams within word boundaries;
* ``bm25``: Okapi BM25 with the options as documents and the question's words as the query, so an option that
  repeats the question's rarer words scores high, normalised for option length;
* ``emb``: cosine of sentence embeddings (the shared MiniLM encoder; needs the ``embed`` extra).

:func:`pair_scores` returns, for every item, one score per option in the item's option order.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np

from baselines.text_only.features import Tfidf
from baselines.text_only.text import words
from scale_vqa.item import Item

LEXICAL = ("tfidf_word", "tfidf_char", "bm25")
EMBEDDING = ("emb",)
MEASURES = (*LEXICAL, *EMBEDDING)

BM25_K1, BM25_B = 1.2, 0.75


def _index(texts: Sequence[str]) -> tuple[list[str], dict[str, int]]:
    distinct = list(dict.fromkeys(texts))
    return distinct, {t: i for i, t in enumerate(distinct)}


def _pairs(items: Sequence[Item]) -> tuple[list[str], list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Distinct questions and options, and for every (item, option) row its question row and option row."""
    questions, q_at = _index([it.question for it in items])
    options, o_at = _index([o for it in items for o in it.options])
    q_rows = np.array([q_at[it.question] for it in items for _ in it.options], dtype=np.int64)
    o_rows = np.array([o_at[o] for it in items for o in it.options], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum([it.n_options for it in items])]).astype(np.int64)
    return questions, options, q_rows, o_rows, offsets


def _split(flat: np.ndarray, offsets: np.ndarray) -> list[np.ndarray]:
    return [flat[offsets[i]:offsets[i + 1]] for i in range(len(offsets) - 1)]


def _tfidf_cosine(questions: list[str], options: list[str], q_rows: np.ndarray, o_rows: np.ndarray,
                  analyzer: str) -> np.ndarray:
    if analyzer == "word":
        vec = Tfidf(ngram_range=(1, 2), stop_words="english", sublinear_tf=True, token_pattern=r"(?u)\b\w+\b")
    else:
        vec = Tfidf(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True)
    try:
        both = vec.fit_transform([*questions, *options])
    except ValueError:  # an empty vocabulary (e.g. only stop words): no lexical signal at all
        return np.zeros(len(q_rows))
    q, o = both[:len(questions)], both[len(questions):]
    return np.asarray(q[q_rows].multiply(o[o_rows]).sum(axis=1)).ravel()


def _bm25(questions: list[str], options: list[str], q_rows: np.ndarray, o_rows: np.ndarray) -> np.ndarray:
    docs = [Counter(words(o)) for o in options]
    n = len(docs)
    df: Counter[str] = Counter()
    for d in docs:
        df.update(d.keys())
    idf = {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}
    avgdl = max(1e-9, sum(sum(d.values()) for d in docs) / max(1, n))
    query = [sorted(set(words(q))) for q in questions]  # a fixed order: float sums do not depend on hashing
    cache: dict[tuple[int, int], float] = {}
    out = np.empty(len(q_rows))
    for r, (qi, oi) in enumerate(zip(q_rows.tolist(), o_rows.tolist(), strict=True)):
        key = (qi, oi)
        if key not in cache:
            d = docs[oi]
            norm = BM25_K1 * (1 - BM25_B + BM25_B * sum(d.values()) / avgdl)
            cache[key] = sum(idf[t] * d[t] * (BM25_K1 + 1) / (d[t] + norm) for t in query[qi] if t in d)
        out[r] = cache[key]
    return out


def _embedding_cosine(questions: list[str], options: list[str], q_rows: np.ndarray, o_rows: np.ndarray,
                      embedder: object | None) -> np.ndarray:
    if embedder is None:
        from baselines.text_only.embedding import shared_embedder

        embedder = shared_embedder()
    e = embedder.encode([*questions, *options])  # type: ignore[attr-defined]  # one batch, cached by text
    q, o = e[:len(questions)], e[len(questions):]
    return np.einsum("ij,ij->i", q[q_rows], o[o_rows])


def pair_scores(items: Sequence[Item], measure: str, embedder: object | None = None) -> list[np.ndarray]:
    """Per item, the `measure` score of each of its options against its question (higher = better match)."""
    if measure not in MEASURES:
        raise KeyError(measure)
    if not items:
        return []
    questions, options, q_rows, o_rows, offsets = _pairs(items)
    if measure == "bm25":
        flat = _bm25(questions, options, q_rows, o_rows)
    elif measure == "emb":
        flat = _embedding_cosine(questions, options, q_rows, o_rows, embedder)
    else:
        flat = _tfidf_cosine(questions, options, q_rows, o_rows, measure.removeprefix("tfidf_"))
    return _split(np.asarray(flat, dtype=np.float64), offsets)
