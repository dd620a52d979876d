"""Statistics for accuracies: Wilson intervals, exact binomial and McNemar tests, paired bootstrap.

Pure standard library (exact integer arithmetic where it matters), so every part of Scale-VQA can use it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

Z95 = 1.959963984540054


def wilson_interval(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for k successes out of n (95 % by default); (0, 1) when n is 0."""
    if n < 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return 0.0, 1.0
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def stratified_interval(groups: Sequence[tuple[int, int]], z: float = Z95) -> tuple[float, float]:
    """Normal-approximation interval for the unweighted mean of per-group accuracies (the macro average).

    Each group is (correct, n); the variance is sum p_g (1 - p_g) / n_g over the squared number of groups.
    """
    groups = [(k, n) for k, n in groups if n > 0]
    if not groups:
        return 0.0, 1.0
    mean = sum(k / n for k, n in groups) / len(groups)
    var = sum((k / n) * (1 - k / n) / n for k, n in groups) / len(groups) ** 2
    half = z * math.sqrt(var)
    return max(0.0, mean - half), min(1.0, mean + half)


def binomial_sf(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p): the exact one-sided p-value for k or more successes."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    if p <= 0:
        return 0.0
    if p >= 1:
        return 1.0
    logs = [
        math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * math.log(p) + (n - i) * math.log1p(-p)
        for i in range(k, n + 1)
    ]
    top = max(logs)
    return min(1.0, math.exp(top) * sum(math.exp(v - top) for v in logs))


def binomial_pmf(k: int, n: int, p: float) -> float:
    """P(X = k) for X ~ Binomial(n, p)."""
    if not 0 <= k <= n:
        return 0.0
    if p <= 0 or p >= 1:
        return float(k == (n if p >= 1 else 0))
    return math.exp(math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
                    + k * math.log(p) + (n - k) * math.log1p(-p))


def binomial_two_sided(k: int, n: int, p: float) -> float:
    """Exact two-sided binomial p-value: the total probability of outcomes no more likely than k.

    Detects departures from chance in *both* directions (a rule far below chance leaks too).
    """
    if n == 0:
        return 1.0
    observed = binomial_pmf(k, n, p)
    total = sum(q for i in range(n + 1) if (q := binomial_pmf(i, n, p)) <= observed * (1 + 1e-7))
    return min(1.0, total)


def poisson_binomial_pmf(probs: Sequence[float]) -> list[float]:
    """Distribution of X, a sum of independent Bernoulli(p_i): P(X = 0), …, P(X = n)."""
    dist = [1.0]
    for p in probs:
        nxt = [0.0] * (len(dist) + 1)
        for i, q in enumerate(dist):
            nxt[i] += q * (1 - p)
            nxt[i + 1] += q * p
        dist = nxt
    return dist


def chance_range(probs: Sequence[float], coverage: float = 0.95) -> tuple[float, float, float]:
    """What a uniform random guesser scores on items with per-item chance `probs` (1 / number of options):
    (expected accuracy, and the central `coverage` range of its accuracy), exact from the Poisson-binomial."""
    if not probs:
        return 0.0, 0.0, 1.0
    n, tail = len(probs), (1 - coverage) / 2
    cdf, lo, hi = 0.0, None, n
    for k, q in enumerate(poisson_binomial_pmf(probs)):
        cdf += q
        if lo is None and cdf >= tail:
            lo = k
        if cdf >= 1 - tail:
            hi = k
            break
    return sum(probs) / n, (lo or 0) / n, hi / n


def chance_test(k: int, probs: Sequence[float]) -> tuple[float, float]:
    """Exact tests of k successes against per-item chance levels `probs`: (one-sided p for "above chance",
    two-sided p for "different from chance", in either direction)."""
    if not probs:
        return 1.0, 1.0
    if len(set(probs)) == 1:
        return binomial_sf(k, len(probs), probs[0]), binomial_two_sided(k, len(probs), probs[0])
    dist = poisson_binomial_pmf(probs)
    observed = dist[k]
    return min(1.0, sum(dist[k:])), min(1.0, sum(q for q in dist if q <= observed * (1 + 1e-7)))


@dataclass(frozen=True)
class McNemarResult:
    """Exact McNemar test on paired right/wrong outcomes of systems A and B over the same items."""

    n: int
    both_right: int
    only_a: int
    """Items A got right and B wrong."""
    only_b: int
    both_wrong: int
    p_value: float
    """Two-sided exact p-value (binomial on the discordant pairs)."""

    @property
    def diff(self) -> float:
        """Accuracy of A minus accuracy of B."""
        return (self.only_a - self.only_b) / self.n if self.n else 0.0


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts: 2 · P(X <= min) for X ~ Bin(b + c, 1/2)."""
    n = only_a + only_b
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(only_a, only_b) + 1))
    return min(1.0, 2 * tail / 2**n)


def paired_test(correct_a: Sequence[bool], correct_b: Sequence[bool]) -> McNemarResult:
    """McNemar exact test for two systems' outcomes on the same items (same order)."""
    if len(correct_a) != len(correct_b):
        raise ValueError(f"paired outcomes differ in length: {len(correct_a)} vs {len(correct_b)}")
    both = only_a = only_b = neither = 0
    for a, b in zip(correct_a, correct_b, strict=True):
        if a and b:
            both += 1
        elif a:
            only_a += 1
        elif b:
            only_b += 1
        else:
            neither += 1
    return McNemarResult(len(correct_a), both, only_a, only_b, neither, mcnemar_exact(only_a, only_b))


def paired_bootstrap(correct_a: Sequence[bool], correct_b: Sequence[bool], *, reps: int = 2000,
                     seed: int = 0, level: float = 0.95) -> tuple[float, float, float]:
    """Accuracy difference A − B and its percentile bootstrap interval, resampling items jointly."""
    if len(correct_a) != len(correct_b):
        raise ValueError(f"paired outcomes differ in length: {len(correct_a)} vs {len(correct_b)}")
    n = len(correct_a)
    if n == 0:
        return 0.0, 0.0, 0.0
    diffs = [int(a) - int(b) for a, b in zip(correct_a, correct_b, strict=True)]
    rng = random.Random(seed)
    stats = sorted(sum(diffs[rng.randrange(n)] for _ in range(n)) / n for _ in range(reps))
    alpha = (1 - level) / 2
    lo = stats[math.floor(alpha * (reps - 1))]
    hi = stats[math.ceil((1 - alpha) * (reps - 1))]
    return sum(diffs) / n, lo, hi


def paired_bootstrap_macro(strata: Sequence[tuple[Sequence[bool], Sequence[bool]]], *, reps: int = 2000,
                           seed: int = 0, level: float = 0.95) -> tuple[float, float, float]:
    """Difference A − B of *macro* accuracy (the mean over strata, e.g. dimensions, of each stratum's accuracy)
    and its percentile bootstrap interval; items are resampled jointly within their stratum."""
    strata = [(a, b) for a, b in strata if len(a)]
    for a, b in strata:
        if len(a) != len(b):
            raise ValueError(f"paired outcomes differ in length: {len(a)} vs {len(b)}")
    if not strata:
        return 0.0, 0.0, 0.0
    diffs = [[int(x) - int(y) for x, y in zip(a, b, strict=True)] for a, b in strata]
    rng = random.Random(seed)
    k = len(diffs)
    stats = sorted(sum(sum(d[rng.randrange(len(d))] for _ in d) / len(d) for d in diffs) / k for _ in range(reps))
    alpha = (1 - level) / 2
    point = sum(sum(d) / len(d) for d in diffs) / k
    return point, stats[math.floor(alpha * (reps - 1))], stats[math.ceil((1 - alpha) * (reps - 1))]


def binomial_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p)."""
    return 1.0 - binomial_sf(k + 1, n, p) if k < n else 1.0


@dataclass(frozen=True)
class TostResult:
    """Exact-binomial two one-sided tests of equivalence to `chance` within ±`margin`."""

    k: int
    n: int
    chance: float
    margin: float
    p_lower: float
    """P(X ≥ k) under accuracy chance − margin (rejects "at or below chance − margin")."""
    p_upper: float
    """P(X ≤ k) under accuracy chance + margin (rejects "at or above chance + margin")."""
    alpha: float

    @property
    def p_value(self) -> float:
        return max(self.p_lower, self.p_upper)

    @property
    def equivalent(self) -> bool:
        """Both one-sided nulls rejected at `alpha`: accuracy is within chance ± margin."""
        return self.n > 0 and self.p_value < self.alpha


def binomial_tost(k: int, n: int, chance: float, margin: float, alpha: float = 0.05) -> TostResult:
    """Exact TOST for k successes in n against [chance − margin, chance + margin] (accuracy below chance is
    a departure too)."""
    if n < 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    lo, hi = max(0.0, chance - margin), min(1.0, chance + margin)
    p_lower = binomial_sf(k, n, lo) if lo > 0 else 1.0
    p_upper = binomial_cdf(k, n, hi) if hi < 1 else 1.0
    return TostResult(k, n, chance, margin, p_lower, p_upper, alpha)


def tost_window(n: int, chance: float, margin: float, alpha: float = 0.05) -> tuple[int, int] | None:
    """The counts k (lowest, highest) out of n for which :func:`binomial_tost` shows equivalence; None when n is
    too small for any. Both one-sided p-values are monotone in k, so each end is found by bisection."""
    lo_p, hi_p = max(0.0, chance - margin), min(1.0, chance + margin)

    def low_ok(k: int) -> bool:  # rejects "at or below chance − margin"; true from some k upwards
        return lo_p <= 0 or binomial_sf(k, n, lo_p) < alpha

    def high_ok(k: int) -> bool:  # rejects "at or above chance + margin"; true up to some k
        return hi_p >= 1 or binomial_cdf(k, n, hi_p) < alpha

    a, b = 0, n + 1  # smallest k in [0, n] with low_ok (n + 1: none)
    while a < b:
        mid = (a + b) // 2
        a, b = (a, mid) if low_ok(mid) else (mid + 1, b)
    first = a
    a, b = -1, n  # largest k in [0, n] with high_ok (-1: none)
    while a < b:
        mid = (a + b + 1) // 2
        a, b = (mid, b) if high_ok(mid) else (a, mid - 1)
    last = a
    return (first, last) if first <= last and first <= n and last >= 0 else None


def smallest_margin(n: int, chance: float, alpha: float = 0.05, step: float = 0.005) -> float | None:
    """The smallest margin (on a `step` grid, up to 0.5) at which an accuracy exactly at chance would pass the
    TOST with n items: what margin n allows."""
    k = round(n * chance)
    margin = step
    while margin <= 0.5 + 1e-9:
        if binomial_tost(k, n, chance, margin, alpha).equivalent:
            return round(margin, 6)
        margin += step
    return None


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values (same order as given), controlling the family-wise error rate."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted
