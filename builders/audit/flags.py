"""Per-item leak flags: an item is flagged when at least k text-only adversaries pick its gold option.

The threshold k is calibrated against two nulls in which the text cannot point at the gold, with every
adversary's predictions held fixed: (1) gold letters permuted among items of the same dimension and option
count (keeps letter and dimension balance), (2) gold drawn uniformly from each item's letters. k* is the
smallest k whose false-flag rate is ≤ the target (5 %) under both. Adversaries are correlated, so single
flags are noisy; the excess over the null expectation is a lower bound on the number of leaky items.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from scale_vqa.dimensions import DIMENSIONS
from scale_vqa.item import Item


@dataclass(frozen=True)
class FlagCalibration:
    k: int
    """Flag threshold: number of adversaries (out of `m`) that must pick the gold; m + 1 flags nothing."""
    m: int
    target: float
    false_flag_rate_permuted: float
    false_flag_rate_uniform: float
    permutations: int
    flagged: int
    n: int
    expected_false_flags: float
    expected_per_dimension: dict[str, float]
    flagged_per_dimension: dict[str, int]
    n_per_dimension: dict[str, int]
    rate_by_k: list[tuple[int, float, float]]
    """(k, permuted-null rate, uniform-null rate) for every k."""

    @property
    def leak_rate(self) -> float:
        """Share of items flagged."""
        return self.flagged / self.n if self.n else 0.0

    @property
    def excess(self) -> float:
        """Flagged minus expected false flags: a lower bound on leaky items."""
        return self.flagged - self.expected_false_flags

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d.update(leak_rate=self.leak_rate, excess=self.excess)
        return d


def choice_counts(items: Sequence[Item], letters_by_adversary: Sequence[Sequence[str | None]]) -> np.ndarray:
    """C[i, j]: how many adversaries chose option j of item i (shape n × max K)."""
    kmax = max(it.n_options for it in items)
    c = np.zeros((len(items), kmax), dtype=np.int32)
    for letters in letters_by_adversary:
        for i, (item, letter) in enumerate(zip(items, letters, strict=True)):
            if letter is not None and letter in item.letters:
                c[i, item.letters.index(letter)] += 1
    return c


def gold_counts(items: Sequence[Item], counts: np.ndarray) -> np.ndarray:
    gold = np.array([it.letters.index(it.answer) for it in items])
    return counts[np.arange(len(items)), gold]


def _tail_rates(values: np.ndarray, m: int) -> np.ndarray:
    """rate[k] = share of entries >= k, for k = 0 … m + 1."""
    hist = np.bincount(values.ravel(), minlength=m + 2)[: m + 2].astype(np.float64)
    tail = hist[::-1].cumsum()[::-1]
    return tail / values.size


def calibrate(items: Sequence[Item], counts: np.ndarray, m: int, *, target: float = 0.05,
              permutations: int = 2000, seed: int = 0) -> tuple[FlagCalibration, np.ndarray]:
    """Choose the flag threshold; returns the calibration and the per-item flags."""
    n = len(items)
    rng = np.random.default_rng(seed)
    gold = np.array([it.letters.index(it.answer) for it in items])
    n_opts = np.array([it.n_options for it in items])
    # null 1: permute gold letters within (dimension, n_options) strata, predictions fixed
    strata: dict[tuple[str, int], list[int]] = {}
    for i, it in enumerate(items):
        strata.setdefault((it.dimension.value, it.n_options), []).append(i)
    perm_gold = np.empty((permutations, n), dtype=np.int64)
    for idx in strata.values():
        idx_arr = np.array(idx)
        perm_gold[:, idx_arr] = rng.permuted(np.tile(gold[idx_arr], (permutations, 1)), axis=1)
    null_perm = counts[np.arange(n)[None, :], perm_gold]
    rate_perm = _tail_rates(null_perm, m)
    # null 2: gold uniform over each item's letters (exact)
    kmax = counts.shape[1]
    valid = np.arange(kmax)[None, :] < n_opts[:, None]
    per_item_uniform = np.stack([((counts >= k) & valid).sum(axis=1) / n_opts for k in range(m + 2)])
    rate_unif = per_item_uniform.mean(axis=1)
    k_star = next((k for k in range(1, m + 2) if rate_perm[k] <= target and rate_unif[k] <= target), m + 1)
    observed = gold_counts(items, counts)
    flags = observed >= k_star
    dims = np.array([it.dimension.value for it in items])
    perm_item_rate = (null_perm >= k_star).mean(axis=0)
    expected_item = np.maximum(perm_item_rate, per_item_uniform[k_star])
    present = [d.value for d in DIMENSIONS if (dims == d.value).any()]
    cal = FlagCalibration(
        k=int(k_star), m=m, target=target,
        false_flag_rate_permuted=float(rate_perm[k_star]), false_flag_rate_uniform=float(rate_unif[k_star]),
        permutations=permutations, flagged=int(flags.sum()), n=n,
        expected_false_flags=float(expected_item.sum()),
        expected_per_dimension={d: float(expected_item[dims == d].sum()) for d in present},
        flagged_per_dimension={d: int(flags[dims == d].sum()) for d in present},
        n_per_dimension={d: int((dims == d).sum()) for d in present},
        rate_by_k=[(k, float(rate_perm[k]), float(rate_unif[k])) for k in range(1, m + 2)],
    )
    return cal, flags
