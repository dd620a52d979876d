"""Which golds may not share a block: two answers that could both be true of one region.

Screens, each giving a reason per refused pair:
* ``identical``: the same text up to case, spacing and punctuation;
* ``lexical``: character 3–5-gram TF-IDF cosine ≥ ``lexical`` or word-set Jaccard ≥ ``jaccard``;
* ``embedding``: sentence-embedding cosine ≥ ``embedding`` (with the ``embed`` extra);
* ``diagnosis``: in Diagnosis blocks, the same diagnosis (its head term, before any qualifier), or the two
  regions' diagnoses — each region's Diagnosis item's gold, as the items of one ``path_id`` share one region —
  lexically close;
* ``judge`` / ``review``: pairs an LLM judge or an expert rejected.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from scale_vqa.dimensions import Dimension
from scale_vqa.item import Item


@dataclass(frozen=True)
class Thresholds:
    lexical: float = 0.85
    jaccard: float = 0.75
    embedding: float = 0.92
    diagnosis: float = 0.6

    def to_dict(self) -> dict[str, float]:
        return {"lexical": self.lexical, "jaccard": self.jaccard, "embedding": self.embedding,
                "diagnosis": self.diagnosis}


def normalise(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def diagnosis_head(text: str) -> str:
    """The diagnosis without qualifiers: the text before the first '(', ',', ';', ':' or ' with '."""
    head = re.split(r"\(|,|;|:|\bwith\b", text.lower(), maxsplit=1)[0]
    return normalise(head)


def _char_cosine(texts: Sequence[str]) -> np.ndarray:
    from sklearn.feature_extraction.text import TfidfVectorizer

    if not any(t.strip() for t in texts):
        return np.eye(len(texts))
    x = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True).fit_transform(texts)
    return np.asarray((x @ x.T).toarray())


def _jaccard(texts: Sequence[str]) -> np.ndarray:
    sets = [set(normalise(t).split()) for t in texts]
    n = len(sets)
    out = np.eye(n)
    for i in range(n):
        for j in range(i + 1, n):
            u = sets[i] | sets[j]
            out[i, j] = out[j, i] = len(sets[i] & sets[j]) / len(u) if u else 1.0
    return out


@dataclass
class Screen:
    """Refused pairs of one dimension's items (indices into `items`) with their reasons."""

    items: list[Item]
    reasons: dict[tuple[int, int], list[str]] = field(default_factory=dict)

    def refuse(self, i: int, j: int, reason: str) -> None:
        if i == j:
            return
        key = (min(i, j), max(i, j))
        self.reasons.setdefault(key, [])
        if reason not in self.reasons[key]:
            self.reasons[key].append(reason)

    def refused(self, i: int, j: int) -> list[str]:
        return self.reasons.get((min(i, j), max(i, j)), [])

    def matrix(self) -> np.ndarray:
        """n × n: True where two items may not share a block (equivalent golds or the same slide)."""
        n = len(self.items)
        m = np.zeros((n, n), dtype=bool)
        for i, j in self.reasons:
            m[i, j] = m[j, i] = True
        slides = [it.wsi_name or it.path_id or it.id for it in self.items]
        same = np.array([[a == b for b in slides] for a in slides], dtype=bool)
        np.fill_diagonal(same, False)
        return m | same


def screen(items: Sequence[Item], *, thresholds: Thresholds = Thresholds(),
           diagnoses: dict[str, str] | None = None, embeddings: np.ndarray | None = None,
           rejected: Iterable[tuple[str, str, str]] = ()) -> Screen:
    """The equivalence screen over one dimension's `items`. `diagnoses` maps a region (``path_id``) to its
    Diagnosis gold; `embeddings` are the golds' unit sentence embeddings; `rejected` holds (id, id, reason)
    pairs from the judge or a review."""
    items = list(items)
    out = Screen(items)
    golds = [it.gold_text for it in items]
    norm = [normalise(g) for g in golds]
    char = _char_cosine(golds)
    jac = _jaccard(golds)
    emb = embeddings @ embeddings.T if embeddings is not None else None
    n = len(items)
    for i in range(n):
        for j in range(i + 1, n):
            if norm[i] == norm[j]:
                out.refuse(i, j, "identical")
            if char[i, j] >= thresholds.lexical or jac[i, j] >= thresholds.jaccard:
                out.refuse(i, j, f"lexical ({char[i, j]:.2f} char cosine, {jac[i, j]:.2f} Jaccard)")
            if emb is not None and emb[i, j] >= thresholds.embedding:
                out.refuse(i, j, f"embedding ({emb[i, j]:.2f} cosine)")
    if items and items[0].dimension is Dimension.DIAGNOSIS:
        diag = [(diagnoses or {}).get(it.path_id or "", it.gold_text) for it in items]
        heads = [diagnosis_head(d) for d in diag]
        dchar = _char_cosine(diag)
        for i in range(n):
            for j in range(i + 1, n):
                if heads[i] and heads[i] == heads[j]:
                    out.refuse(i, j, f"diagnosis (same diagnosis: {heads[i]!r})")
                elif dchar[i, j] >= thresholds.diagnosis:
                    out.refuse(i, j, f"diagnosis ({dchar[i, j]:.2f} char cosine)")
    index = {it.id: i for i, it in enumerate(items)}
    for a, b, reason in rejected:
        if a in index and b in index:
            out.refuse(index[a], index[b], reason)
    return out


def region_diagnoses(items: Iterable[Item]) -> dict[str, str]:
    """Each region's diagnosis: the gold of its Diagnosis item (the items of one ``path_id`` share a region)."""
    return {it.path_id: it.gold_text for it in items if it.dimension is Dimension.DIAGNOSIS and it.path_id}
