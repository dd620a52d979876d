"""Learned text-only answerers: score each (question, option, option-set) row, pick the best option per item.

Models: pointwise logistic regression, histogram gradient boosting, and a conditional logit (a softmax over
each item's options, fitted by L-BFGS). Fixed hyper-parameters — never tuned on the audited split. Fit on one
set of items, answer another (the audit cross-fits them grouped by slide).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeVar

import numpy as np
from scipy import optimize, sparse

from baselines.answerer import Answer, Answerer, AnswererError, argmax_letter, tie_break_rng
from baselines.text_only.features import DenseFeaturizer, Tfidf, gold_vector, group_offsets, option_texts
from scale_vqa.item import Item


@dataclass(frozen=True)
class LearnedSpec:
    """Which features and which model a learned answerer uses."""

    name: str
    model: str
    """``lr`` (logistic regression), ``gbm`` (gradient boosting) or ``clogit`` (conditional logit)."""
    dense: bool = True
    tfidf: bool = False
    embedding: bool = False

    @property
    def description(self) -> str:
        feats = [f for f, on in (("dense", self.dense), ("tf-idf", self.tfidf), ("embedding", self.embedding)) if on]
        model = {"lr": "logistic regression", "gbm": "gradient boosting", "clogit": "conditional logit"}[self.model]
        return f"{model} on {' + '.join(feats)} option features"


LEARNED = (
    LearnedSpec("lr_dense", "lr"),
    LearnedSpec("lr_tfidf", "lr", dense=False, tfidf=True),
    LearnedSpec("lr_all", "lr", tfidf=True),
    LearnedSpec("gbm_dense", "gbm"),
    LearnedSpec("clogit_all", "clogit", tfidf=True),
)
"""Learned answerers that need only scikit-learn."""

LEARNED_EMB = (
    LearnedSpec("lr_all+emb", "lr", tfidf=True, embedding=True),
    LearnedSpec("gbm_dense+emb", "gbm", embedding=True),
)
"""Learned answerers that also use sentence embeddings (the ``embed`` extra)."""


EMB_COMPONENTS = 32
"""The learned answerers read the (centred) option embeddings through their leading principal components,
fitted on the training options (label-free): 32 columns instead of 384 make gradient boosting ~4× and logistic
regression ~3× faster, for the same accuracy on val (gradient boosting) or higher (logistic regression, which
overfits the 384 raw columns)."""

MAX_TFIDF = 5000
"""Vocabulary cap per TF-IDF block (unigrams + bigrams seen at least twice)."""


T = TypeVar("T")

SHARED_SIZE = 64
"""How many label-free feature blocks :func:`shared` keeps (the panel's folds × train / test / shuffled test,
per kind of block)."""

_SHARED: OrderedDict[tuple[object, ...], tuple[tuple[Sequence[Item], ...], object]] = OrderedDict()


def shared(kind: str, *keys: Sequence[Item], make: Callable[[], T]) -> T:
    """The value `make` builds for (`kind`, `keys`), built once and shared: adversaries that fit on the same
    training items build the same label-free features (IDF tables, TF-IDF vocabularies, the matrices they give
    the same items). Keys are the item sequences, by the identity of their items in order (the entry keeps
    them alive, so an identity is never reused while it is cached); the last :data:`SHARED_SIZE` values are
    kept. Arrays come back read-only."""
    held = tuple(tuple(k) for k in keys)
    key = (kind, *(tuple(map(id, k)) for k in held))
    if key in _SHARED:
        _SHARED.move_to_end(key)
        return _SHARED[key][1]  # type: ignore[return-value]
    value = make()
    for part in value if isinstance(value, (tuple, list)) else (value,):
        if isinstance(part, np.ndarray):
            part.flags.writeable = False
    _SHARED[key] = (held, value)
    while len(_SHARED) > SHARED_SIZE:
        _SHARED.popitem(last=False)
    return value


def clear_shared() -> None:
    """Forget every shared feature block (:func:`shared`) and analysed text."""
    _SHARED.clear()
    _TOKENS.clear()


def dense_features(train: Sequence[Item], items: Sequence[Item]) -> np.ndarray:
    """:class:`DenseFeaturizer` fitted on `train` (label-free: the options' IDF), applied to `items`; shared."""
    featurizer = shared("dense-fit", train, make=lambda: DenseFeaturizer().fit(train))
    return shared("dense", train, items, make=lambda: featurizer.transform(items))


def _softmax_groups(scores: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    starts = offsets[:-1]
    top = np.maximum.reduceat(scores, starts)
    sizes = np.diff(offsets)
    e = np.exp(scores - np.repeat(top, sizes))
    return e / np.repeat(np.add.reduceat(e, starts), sizes)


def fit_pointwise(model: str, x: object, y: np.ndarray, seed: int) -> object:
    """A pointwise option scorer with the panel's fixed hyper-parameters: ``lr`` (logistic regression) or
    ``gbm`` (histogram gradient boosting)."""
    if model == "lr":
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=1.0, solver="liblinear", class_weight="balanced").fit(x, y)
    if model == "gbm":
        from sklearn.ensemble import HistGradientBoostingClassifier
        from sklearn.feature_selection import VarianceThreshold
        from sklearn.pipeline import make_pipeline

        gbm = HistGradientBoostingClassifier(max_iter=100, learning_rate=0.1, max_leaf_nodes=15,
                                             l2_regularization=1.0, random_state=seed)
        if not np.ptp(np.asarray(x), axis=0).any():
            return gbm.fit(x, y)
        # Columns constant on the training rows (absent positions, position × other dimensions: a third of the
        # dense block) can never be split on: dropping them first gives the same trees, ~25 % sooner.
        return make_pipeline(VarianceThreshold(0.0), gbm).fit(x, y)
    raise ValueError(f"unknown pointwise model {model!r} (lr or gbm)")


class ConditionalLogit:
    """Multinomial logit over each item's options with shared weights: P(option j) ∝ exp(x_j · w)."""

    def __init__(self, l2: float = 1.0, max_iter: int = 100) -> None:
        self.l2, self.max_iter = l2, max_iter

    def fit(self, x: sparse.csr_matrix, y: np.ndarray, offsets: np.ndarray) -> ConditionalLogit:
        def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
            p = _softmax_groups(x @ w, offsets)
            nll = -np.sum(y * np.log(np.clip(p, 1e-300, None)))
            grad = x.T @ (p - y) + self.l2 * w
            return nll + 0.5 * self.l2 * float(w @ w), np.asarray(grad).ravel()

        res = optimize.minimize(loss, np.zeros(x.shape[1]), jac=True, method="L-BFGS-B",
                                options={"maxiter": self.max_iter})
        self.coef_ = res.x
        return self

    def decision_function(self, x: sparse.csr_matrix) -> np.ndarray:
        return np.asarray(x @ self.coef_).ravel()


_TOKENS: dict[str, list[str]] = {}


@lru_cache(maxsize=1)
def _word_analyzer() -> Callable[[str], list[str]]:
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(ngram_range=(1, 2)).build_analyzer()


def _tokens(text: str) -> list[str]:
    """The lower-cased word 1–2-grams of `text` (scikit-learn's word analyzer), each text analysed once per
    process however many folds and adversaries vectorise it."""
    tokens = _TOKENS.get(text)
    if tokens is None:
        tokens = _TOKENS[text] = _word_analyzer()(text)
    return tokens


def tfidf_features(train: Sequence[Item], items: Sequence[Item]) -> list[sparse.csr_matrix]:
    """TF-IDF of `items`' option texts and of their diff texts, vocabularies fitted on `train`; shared (the
    training rows' matrices come from the fit itself)."""

    def fit() -> tuple[tuple[Tfidf, ...], list[sparse.csr_matrix]]:
        vecs = tuple(Tfidf(analyzer=_tokens, min_df=2, max_features=MAX_TFIDF, sublinear_tf=True) for _ in range(2))
        return vecs, [v.fit_transform(t) for v, t in zip(vecs, option_texts(train), strict=True)]

    vecs, train_rows = shared("tfidf-fit", train, make=fit)
    if len(items) == len(train) and all(a is b for a, b in zip(items, train, strict=False)):
        return train_rows

    def make() -> list[sparse.csr_matrix]:
        return [v.transform(t) for v, t in zip(vecs, option_texts(items), strict=True)]

    return shared("tfidf", train, items, make=make)


class LearnedAnswerer(Answerer):
    """A fitted option scorer (see :class:`LearnedSpec`)."""

    trainable = True

    def __init__(self, spec: LearnedSpec, seed: int = 0, embedder: object | None = None) -> None:
        self.spec, self.seed, self.name = spec, seed, spec.name
        self.description = spec.description
        if spec.embedding and embedder is None:
            from baselines.text_only.embedding import shared_embedder

            embedder = shared_embedder()
        self.embedder = embedder
        self.model: object | None = None

    def _matrix(self, items: Sequence[Item], fit: bool) -> sparse.csr_matrix | np.ndarray:
        from sklearn.preprocessing import StandardScaler

        blocks: list[sparse.spmatrix] = []
        dense_parts = []
        if fit:
            self.train = tuple(items)
        if self.spec.dense:
            dense_parts.append(dense_features(self.train, items))
        if self.spec.embedding:
            from sklearn.decomposition import PCA

            emb = self.embedder.centred_option_embeddings(items)  # type: ignore[attr-defined]
            if fit:
                self.pca = PCA(n_components=min(EMB_COMPONENTS, *emb.shape), random_state=self.seed).fit(emb)
            emb = self.pca.transform(emb)
            dense_parts.append(emb)
        if dense_parts:
            dense = np.hstack(dense_parts)
            if fit:
                self.scaler = StandardScaler().fit(dense)
            dense = self.scaler.transform(dense)
            if self.spec.model == "gbm":
                return dense
            blocks.append(sparse.csr_matrix(dense))
        if self.spec.tfidf:
            blocks += tfidf_features(self.train, items)
        return sparse.hstack(blocks, format="csr")

    def fit(self, items: Sequence[Item]) -> Answerer:
        if not items:
            raise AnswererError(f"{self.name}: no training items")
        x = self._matrix(items, fit=True)
        y = gold_vector(items)
        if self.spec.model == "clogit":
            self.model = ConditionalLogit().fit(x, y, group_offsets(items))
        else:
            self.model = fit_pointwise(self.spec.model, x, y, self.seed)
        return self

    def answer(self, items: Sequence[Item]) -> list[Answer]:
        if self.model is None:
            raise AnswererError(f"{self.name} must be fitted before it answers")
        if not items:
            return []
        scores = self.model.decision_function(self._matrix(items, fit=False))  # type: ignore[attr-defined]
        offsets = group_offsets(items)
        out = []
        for i, item in enumerate(items):
            s = [float(v) for v in scores[offsets[i]:offsets[i + 1]]]
            out.append(Answer(argmax_letter(s, item.letters, tie_break_rng(self.seed, self.name, item.id)),
                              tuple(s)))
        return out
