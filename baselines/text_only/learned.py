"""Learned text-only answerers: score each (question, option, option-set) row, pick the best option per item.

Models: pointwise logistic regression, histogram gradient boosting, and a conditional logit (a softmax over
each item's options, fitted by L-BFGS). Fixed hyper-parameters — never tuned on the audited split. Fit on one
set of items, answer another (the audit cross-fits them grouped by slide).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, sparse

from baselines.answerer import Answer, Answerer, AnswererError, argmax_letter, tie_break_rng
from baselines.text_only.features import DenseFeaturizer, gold_vector, group_offsets, option_texts
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


GBM_EMB_COMPONENTS = 32
"""Gradient boosting reads the option embeddings through their leading principal components (fitted on the
training options, label-free): 32 columns instead of 384 make it ~4× faster for the same accuracy on val."""

MAX_TFIDF = 5000
"""Vocabulary cap per TF-IDF block (unigrams + bigrams seen at least twice)."""


def _softmax_groups(scores: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    starts = offsets[:-1]
    top = np.maximum.reduceat(scores, starts)
    sizes = np.diff(offsets)
    e = np.exp(scores - np.repeat(top, sizes))
    return e / np.repeat(np.add.reduceat(e, starts), sizes)


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
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.preprocessing import StandardScaler

        blocks: list[sparse.spmatrix] = []
        dense_parts = []
        if self.spec.dense:
            if fit:
                self.featurizer = DenseFeaturizer().fit(items)
            dense_parts.append(self.featurizer.transform(items))
        if self.spec.embedding:
            emb = self.embedder.centred_option_embeddings(items)  # type: ignore[attr-defined]
            if self.spec.model == "gbm":  # trees split one column at a time: the leading components carry the signal
                from sklearn.decomposition import PCA

                if fit:
                    self.pca = PCA(n_components=min(GBM_EMB_COMPONENTS, *emb.shape), random_state=self.seed).fit(emb)
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
            texts, diffs = option_texts(items)
            if fit:
                self.tf_text = TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_features=MAX_TFIDF,
                                               sublinear_tf=True).fit(texts)
                self.tf_diff = TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_features=MAX_TFIDF,
                                               sublinear_tf=True).fit(diffs)
            blocks += [self.tf_text.transform(texts), self.tf_diff.transform(diffs)]
        return sparse.hstack(blocks, format="csr")

    def fit(self, items: Sequence[Item]) -> Answerer:
        if not items:
            raise AnswererError(f"{self.name}: no training items")
        x = self._matrix(items, fit=True)
        y = gold_vector(items)
        if self.spec.model == "lr":
            from sklearn.linear_model import LogisticRegression

            self.model = LogisticRegression(C=1.0, solver="liblinear", class_weight="balanced").fit(x, y)
        elif self.spec.model == "gbm":
            from sklearn.ensemble import HistGradientBoostingClassifier

            self.model = HistGradientBoostingClassifier(max_iter=100, learning_rate=0.1, max_leaf_nodes=15,
                                                        l2_regularization=1.0, random_state=self.seed).fit(x, y)
        else:
            self.model = ConditionalLogit().fit(x, y, group_offsets(items))
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
