"""Statistics: Wilson intervals, exact binomial and McNemar tests, bootstrap."""

from __future__ import annotations

import random
from fractions import Fraction
from math import comb

import pytest

from scale_vqa.stats import (
    binomial_sf,
    mcnemar_exact,
    paired_bootstrap,
    paired_test,
    stratified_interval,
    wilson_interval,
)


def test_wilson_closed_forms_at_the_edges() -> None:
    z2 = 1.959963984540054 ** 2
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(z2 / (10 + z2))
    lo, hi = wilson_interval(10, 10)
    assert lo == pytest.approx(10 / (10 + z2)) and hi == pytest.approx(1.0)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        wilson_interval(5, 3)


def test_wilson_is_symmetric_and_narrows_with_n() -> None:
    lo, hi = wilson_interval(30, 100)
    lo2, hi2 = wilson_interval(70, 100)
    assert lo == pytest.approx(1 - hi2) and hi == pytest.approx(1 - lo2)
    assert (hi - lo) > (wilson_interval(300, 1000)[1] - wilson_interval(300, 1000)[0])


def test_wilson_coverage_is_near_95_percent() -> None:
    rng = random.Random(0)
    n, p, trials = 60, 0.3, 3000
    covered = 0
    for _ in range(trials):
        k = sum(rng.random() < p for _ in range(n))
        lo, hi = wilson_interval(k, n)
        covered += lo <= p <= hi
    assert 0.92 < covered / trials < 0.98


def test_binomial_sf_matches_exact_fractions() -> None:
    cases = [(10, 3, Fraction(1, 4)), (30, 12, Fraction(1, 4)), (45, 30, Fraction(1, 2)), (5, 0, Fraction(1, 3))]
    for n, k, p in cases:
        exact = sum(comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1))
        assert binomial_sf(k, n, float(p)) == pytest.approx(float(exact), rel=1e-9)
    assert binomial_sf(11, 10, 0.5) == 0.0
    # large n must not overflow or underflow into nonsense
    assert 0.0 <= binomial_sf(320, 1005, 0.25) < 1e-4
    assert binomial_sf(200, 1005, 0.25) > 0.99


def test_mcnemar_exact_known_values() -> None:
    assert mcnemar_exact(0, 5) == pytest.approx(2 / 32)
    assert mcnemar_exact(1, 9) == pytest.approx(2 * 11 / 1024)
    assert mcnemar_exact(5, 5) == 1.0
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(3, 7) == mcnemar_exact(7, 3)


def test_paired_test_counts() -> None:
    a = [True, True, False, False, True]
    b = [True, False, True, False, False]
    t = paired_test(a, b)
    assert (t.both_right, t.only_a, t.only_b, t.both_wrong) == (1, 2, 1, 1)
    assert t.diff == pytest.approx(0.2)
    with pytest.raises(ValueError):
        paired_test(a, b[:-1])


def test_paired_bootstrap() -> None:
    rng = random.Random(1)
    a = [rng.random() < 0.8 for _ in range(300)]
    b = [rng.random() < 0.5 for _ in range(300)]
    diff, lo, hi = paired_bootstrap(a, b, reps=500, seed=3)
    assert lo < diff < hi
    assert lo > 0  # 0.8 vs 0.5 on 300 items is clearly separated
    assert paired_bootstrap(a, a, reps=200) == (0.0, 0.0, 0.0)
    assert paired_bootstrap(a, b, reps=500, seed=3) == (diff, lo, hi)


def test_stratified_interval_contains_macro_mean() -> None:
    lo, hi = stratified_interval([(80, 100), (40, 50)])
    assert lo < 0.8 < hi
    assert stratified_interval([]) == (0.0, 1.0)
