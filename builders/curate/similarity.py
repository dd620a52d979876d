"""Question–answer similarity models, each encoding every text once per run.

Two disjoint families: the *selection* models that the construction optimises against (word and character
TF-IDF, latent semantic analysis) and the *verification* models that only judge the result (binary word overlap,
BM25, character bigram–trigram profiles and, with the ``embed`` extra, a sentence-embedding model). No model of
one family is in the other, so the construction cannot overfit its own verifier.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

Encoder = Callable[[Sequence[str], Sequence[str], int], tuple[np.ndarray, np.ndarray]]
"""(questions, answers, seed) → (question vectors, answer vectors), rows L2-normalised."""


@dataclass(frozen=True)
class SimilarityModel:
    name: str
    description: str
    encode: Encoder

    def matrix(self, questions: Sequence[str], answers: Sequence[str], seed: int = 0) -> np.ndarray:
        """Cosine similarity of every question (rows) to every answer (columns)."""
        q, a = self.encode(questions, answers, seed)
        return np.asarray(q @ a.T, dtype=np.float64)


def _dense(m: object) -> np.ndarray:
    arr = m.toarray() if hasattr(m, "toarray") else np.asarray(m)  # type: ignore[union-attr]
    norm = np.linalg.norm(arr, axis=1, keepdims=True)
    return arr / np.where(norm == 0, 1, norm)


def _tfidf(**kw: object) -> Encoder:
    def encode(qs: Sequence[str], ans: Sequence[str], seed: int) -> tuple[np.ndarray, np.ndarray]:
        from sklearn.feature_extraction.text import TfidfVectorizer

        vec = TfidfVectorizer(sublinear_tf=True, **kw).fit([*qs, *ans])  # type: ignore[arg-type]
        return _dense(vec.transform(qs)), _dense(vec.transform(ans))
    return encode


def _lsa(qs: Sequence[str], ans: Sequence[str], seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(sublinear_tf=True, stop_words="english", min_df=2).fit([*qs, *ans])
    x = vec.transform([*qs, *ans])
    dims = max(1, min(48, x.shape[1] - 1, x.shape[0] - 1))
    with warnings.catch_warnings():  # tiny inputs: explained-variance ratios of zero variance
        warnings.simplefilter("ignore", RuntimeWarning)
        z = TruncatedSVD(dims, random_state=seed).fit_transform(x) if x.shape[1] > 1 else x.toarray()
    z = _dense(z)
    return z[:len(qs)], z[len(qs):]


def _binary_words(qs: Sequence[str], ans: Sequence[str], seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.feature_extraction.text import CountVectorizer

    vec = CountVectorizer(binary=True, token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z]+\b").fit([*qs, *ans])
    return _dense(vec.transform(qs)), _dense(vec.transform(ans))


def _bm25(qs: Sequence[str], ans: Sequence[str], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """BM25 weights (k1 = 1.2, b = 0.75) on both sides, cosine-normalised."""
    from sklearn.feature_extraction.text import CountVectorizer

    vec = CountVectorizer(token_pattern=r"(?u)\b\w\w+\b").fit([*qs, *ans])
    x = vec.transform([*qs, *ans]).astype(np.float64).toarray()
    df = (x > 0).sum(axis=0)
    idf = np.log1p((len(x) - df + 0.5) / (df + 0.5))
    length = x.sum(axis=1, keepdims=True)
    w = x * 2.2 / (x + 1.2 * (0.25 + 0.75 * length / max(1.0, float(length.mean())))) * idf
    w = _dense(w)
    return w[:len(qs)], w[len(qs):]


def _embedding(qs: Sequence[str], ans: Sequence[str], seed: int) -> tuple[np.ndarray, np.ndarray]:
    from baselines.text_only.embedding import shared_embedder

    emb = shared_embedder()
    return emb.encode(list(qs)), emb.encode(list(ans))


def _static_words(qs: Sequence[str], ans: Sequence[str], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """IDF-weighted mean of a transformer's *input* word-piece vectors (no attention: a static bag-of-words
    model, not the sentence encoder the verification uses)."""
    from baselines.text_only.embedding import shared_embedder

    model = shared_embedder().model
    tok = model.tokenizer
    table = model[0].auto_model.get_input_embeddings().weight.detach().float().cpu().numpy()
    special = set(tok.all_special_ids)
    texts = [*qs, *ans]
    ids = [[t for t in tok(x, add_special_tokens=False)["input_ids"] if t not in special] for x in texts]
    df: dict[int, int] = {}
    for row in ids:
        for t in set(row):
            df[t] = df.get(t, 0) + 1
    out = np.zeros((len(texts), table.shape[1]))
    for r, row in enumerate(ids):
        if row:
            w = np.array([np.log((1 + len(texts)) / (1 + df[t])) + 1 for t in row])
            out[r] = (table[row] * w[:, None]).sum(axis=0) / w.sum()
    out -= out.mean(axis=0, keepdims=True)
    out = _dense(out)
    return out[:len(qs)], out[len(qs):]


SELECTION = (
    SimilarityModel("sel_word", "word uni+bigram TF-IDF, English stop words removed", _tfidf(
        ngram_range=(1, 2), stop_words="english")),
    SimilarityModel("sel_char", "character 3–5-gram TF-IDF within word boundaries", _tfidf(
        analyzer="char_wb", ngram_range=(3, 5))),
    SimilarityModel("sel_lsa", "latent semantic analysis (48 dimensions) of word TF-IDF", _lsa),
)
SELECTION_STATIC = SimilarityModel("sel_static", "IDF-weighted static word-piece vectors (input layer of "
                                   "all-MiniLM-L6-v2, no attention)", _static_words)


def selection_models(embedding: bool, *, ceiling: bool = False) -> tuple[SimilarityModel, ...]:
    """The selection family; the static word-vector model only when the ``embed`` extra is installed. With
    `ceiling`, the verification family itself (``scale-vqa curate --ceiling``)."""
    if ceiling:
        return verification_models(embedding)
    return (*SELECTION, SELECTION_STATIC) if embedding else SELECTION
"""Models the construction optimises against."""

VERIFY_LEXICAL = (
    SimilarityModel("ver_words", "binary word overlap (cosine), stop words kept", _binary_words),
    SimilarityModel("ver_bm25", "BM25-weighted words", _bm25),
    SimilarityModel("ver_char23", "character 2–3-gram TF-IDF across word boundaries", _tfidf(
        analyzer="char", ngram_range=(2, 3))),
)
VERIFY_EMBEDDING = SimilarityModel("ver_minilm", "all-MiniLM-L6-v2 sentence embeddings", _embedding)


def verification_models(embedding: bool) -> tuple[SimilarityModel, ...]:
    """The verification family; the embedding model only when asked for (and installed)."""
    return (*VERIFY_LEXICAL, VERIFY_EMBEDDING) if embedding else VERIFY_LEXICAL
