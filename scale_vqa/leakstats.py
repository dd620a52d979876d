"""How far above chance a text-only answerer is: accuracy, Wilson CI, exact p-value vs chance, and the
chance-normalised leakage κ = (acc − 1/K) / (1 − 1/K).

κ is also the implied share of text-solvable items under the simple model "an item is either solvable from
its text (always right) or not (right by chance)": acc = s + (1 − s)/K gives s = κ.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from scale_vqa.dimensions import DIMENSIONS
from scale_vqa.item import Item
from scale_vqa.stats import chance_test, wilson_interval


@dataclass(frozen=True)
class LeakStat:
    n: int
    correct: int
    accuracy: float
    ci: tuple[float, float]
    chance: float
    """Mean chance level, 1/K averaged over items."""
    p_value: float
    """Exact one-sided p-value for "above chance"."""
    kappa: float
    kappa_ci: tuple[float, float]

    @property
    def text_solvable(self) -> float:
        """Implied share of text-solvable items (κ clipped at 0)."""
        return max(0.0, self.kappa)

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["ci"], d["kappa_ci"] = list(self.ci), list(self.kappa_ci)
        d["text_solvable"] = self.text_solvable
        return d


def _kappa(acc: float, chance: float) -> float:
    return (acc - chance) / (1 - chance) if chance < 1 else 0.0


def leak_stat(correct: Sequence[bool], n_options: Sequence[int]) -> LeakStat:
    """Statistics for per-item outcomes `correct` of items with `n_options` options."""
    n, k = len(correct), sum(map(bool, correct))
    probs = [1 / m for m in n_options]
    chance = sum(probs) / n if n else 0.0
    acc = k / n if n else 0.0
    lo, hi = wilson_interval(k, n)
    p_one, _ = chance_test(k, probs)
    return LeakStat(n, k, acc, (lo, hi), chance, p_one, _kappa(acc, chance), (_kappa(lo, chance), _kappa(hi, chance)))


def leak_table(items: Sequence[Item], correct: Sequence[bool]) -> dict[str, LeakStat]:
    """``all`` plus one entry per dimension present (by dimension name)."""
    out = {"all": leak_stat(correct, [it.n_options for it in items])}
    for dim in DIMENSIONS:
        idx = [i for i, it in enumerate(items) if it.dimension is dim]
        if idx:
            out[dim.value] = leak_stat([correct[i] for i in idx], [items[i].n_options for i in idx])
    return out
