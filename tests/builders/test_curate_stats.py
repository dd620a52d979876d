"""The verification statistics (core ``scale_vqa.stats``: exact-binomial TOST, Holm) and the verification
table, plus the matched rows on the leaderboard."""

from __future__ import annotations

import pytest

from scale_vqa.stats import binomial_tost, holm, smallest_margin, tost_window


def test_tost_matches_scipy_and_the_published_windows() -> None:
    scipy_stats = pytest.importorskip("scipy.stats")
    for k, n in ((230, 1000), (260, 1000), (20, 90), (31, 90)):
        t = binomial_tost(k, n, 0.25, 0.05)
        assert t.p_lower == pytest.approx(scipy_stats.binomtest(k, n, 0.20, alternative="greater").pvalue, rel=1e-9)
        assert t.p_upper == pytest.approx(scipy_stats.binomtest(k, n, 0.30, alternative="less").pvalue, rel=1e-9)
    lo, hi = tost_window(1000, 0.25, 0.05)  # type: ignore[misc]
    assert (lo, hi) == (222, 275)  # the exact window computed with scipy for n = 1000
    assert tost_window(200, 0.25, 0.05) is None  # n = 200 cannot show ±0.05
    assert binomial_tost(250, 1000, 0.25, 0.05).equivalent and not binomial_tost(150, 1000, 0.25, 0.05).equivalent
    assert not binomial_tost(350, 1000, 0.25, 0.05).equivalent  # far above chance
    margin = smallest_margin(90, 0.25)
    assert margin is not None and 0.08 < margin < 0.12
    assert binomial_tost(22, 90, 0.25, margin).equivalent


def test_holm_adjusts_in_step_down_order() -> None:
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([]) == [] and holm([0.9]) == [0.9] and max(holm([0.5] * 10)) == 1.0


def test_verification_flags_a_leak_and_passes_chance() -> None:
    import numpy as np

    from builders.curate.verify import failures, verify
    from tests.builders.curate_data import make_items

    items = [it.with_(answer="ABCD"[i % 4]) for i, it in enumerate(make_items(40))]  # 200 items, 40 per dimension
    gold = [it.letters.index(it.answer) for it in items]
    rng = np.random.default_rng(0)
    answers = {"oracle": gold, "random": [int(x) for x in rng.integers(0, 4, len(items))],
               "anti": [(g + 1) % 4 for g in gold]}
    v = verify(items, items, answers, {}, reps=200, seed=0)
    by = {(c.adversary, c.dimension): c for c in v.cells}
    assert by[("oracle", "all")].accuracy == 1.0 and by[("oracle", "diagnosis")].departs
    assert by[("anti", "diagnosis")].below and not by[("anti", "diagnosis")].departs
    assert not by[("anti", "all")].tost_pass  # below chance fails the equivalence test
    assert not any(by[("random", d.value)].departs for d in {it.dimension for it in items})
    assert 0.3 < v.max_dim["expected"] < 0.5 and v.max_dim["observed"] == 1.0
    fails = failures(v, fail_above=0.31)
    assert any("oracle" in f for f in fails) and any("Holm" in f for f in fails)


def test_matched_runs_are_leaderboard_rows() -> None:
    from baselines.tables.table import Cell, Row, leaderboard_seed_rows
    from scale_vqa.variants import LABELS

    cell = Cell(0.5, 0.4, 0.6, 10)
    rows = [Row("m", "measured", "model", LABELS[v], "validation", {}, cell, "p")
            for v in ("matched", "matched_blind", "shuffled")]
    assert [r["name"] for r in leaderboard_seed_rows(rows)] == ["m (matched (curated))", "m (matched, blind)"]
