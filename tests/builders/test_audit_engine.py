"""The audit engine: statistics, artifact checks in both directions, calibrated flags, fitting on another split
and the non-circular residual on the hard subset."""

from __future__ import annotations

import math
import random

import pytest

pytest.importorskip("sklearn")

from baselines.text_only.registry import resolve
from builders.audit.artifacts import artifact_checks, edit_profile
from builders.audit.engine import AuditError, run_audit
from builders.audit.flags import calibrate, choice_counts
from scale_vqa.leakstats import leak_stat
from scale_vqa.release import load_items
from tests.helpers.audit_data import edited_items, mixed, one_thread, random_items  # noqa: F401

FAST = ["fast"]
PANEL = ["heuristics", "learned"]


def permuted_gold(items, seed):
    """Same items with gold letters redrawn uniformly at random: the text no longer points at the gold."""
    rng = random.Random(seed)
    return [it.with_(answer=rng.choice(it.letters)) for it in items]


def test_leak_stat_matches_definitions():
    s = leak_stat([True] * 60 + [False] * 40, [4] * 100)
    assert s.accuracy == 0.6 and s.chance == 0.25
    assert s.kappa == pytest.approx((0.6 - 0.25) / 0.75)
    assert s.ci[0] < 0.6 < s.ci[1]
    assert s.kappa_ci[0] == pytest.approx((s.ci[0] - 0.25) / 0.75)
    assert s.p_value < 1e-10
    below = leak_stat([False] * 100, [4] * 100)
    assert below.p_value == 1.0 and below.text_solvable == 0.0 and below.kappa < 0
    mixed_k = leak_stat([True, False, False], [2, 4, 5])
    assert mixed_k.chance == pytest.approx((1 / 2 + 1 / 4 + 1 / 5) / 3)
    assert mixed_k.p_value == pytest.approx(1 - (1 / 2) * (3 / 4) * (4 / 5))


def test_implied_share_matches_kappa():
    s = leak_stat([True] * 70 + [False] * 30, [4] * 100)
    # acc = s + (1 - s)/K  ⇒  s = κ
    assert pytest.approx(s.text_solvable + (1 - s.text_solvable) / 4) == 0.7
    assert math.isclose(s.text_solvable, s.kappa)


def test_artifact_checks_detect_both_directions():
    items = edited_items(200)
    by = {c.name: c for c in artifact_checks(items)}
    assert by["gold_most_central_edit"].direction == "above"
    assert by["gold_edit_hub"].direction == "above"
    assert by["gold_least_central"].direction == "below"
    assert by["gold_least_central"].rate < by["gold_least_central"].chance
    # gold always the shortest option → "shortest" above, "longest" below chance
    shortest_gold = []
    for it in random_items(200, seed=3):
        lengths = [len(o) for o in it.options]
        shortest_gold.append(it.with_(answer=it.letters[lengths.index(min(lengths))]))
    by = {c.name: c for c in artifact_checks(shortest_gold)}
    assert by["gold_shortest"].direction == "above"
    assert by["gold_longest"].direction == "below" and by["gold_longest"].hits == 0
    clean = {c.name: c for c in artifact_checks(random_items(400, seed=5))}
    assert clean["gold_most_central_edit"].direction == "chance"
    assert clean["gold_shortest"].direction == "chance"


def test_letter_balance_and_edit_profile():
    items = [it.with_(answer="B") for it in random_items(100)]
    by = {c.name: c for c in artifact_checks(items)}
    assert by["letter_B"].direction == "above" and by["letter_A"].direction == "below"
    prof = edit_profile(edited_items(50)).to_dict()
    assert prof["gold_share"] == 1.0 and prof["other_share"] < 0.5


def test_calibration_controls_false_flags_on_permuted_gold(val_path):
    """On the real items with gold letters randomly permuted, the calibrated flags stay at ≤ 5 %."""
    items = load_items(val_path)
    specs = resolve(FAST)
    rates = []
    for seed in range(4):
        audit = run_audit(permuted_gold(items, seed), specs, seed=seed, permutations=500, shuffle_check=False,
                          progress=False)
        rates.append(audit.calibration.leak_rate)
        assert audit.calibration.false_flag_rate_permuted <= 0.05
        assert audit.calibration.false_flag_rate_uniform <= 0.05
    assert sum(rates) / len(rates) <= 0.05
    assert max(rates) <= 0.08


def test_flags_find_leaky_items():
    items = mixed(30, 270)
    audit = run_audit(items, resolve(PANEL), permutations=500, shuffle_check=False, progress=False)
    flagged_leaky = sum(f for f, it in zip(audit.flags, items, strict=True) if it.id.startswith("L"))
    flagged_clean = sum(f for f, it in zip(audit.flags, items, strict=True) if it.id.startswith("C"))
    assert flagged_leaky >= 15
    assert flagged_clean <= 0.05 * 270
    assert audit.calibration.flagged > audit.calibration.expected_false_flags


def test_calibration_threshold_is_exact_for_a_known_panel():
    # every adversary votes for option A on every item: under the uniform null a flag is right 1/4 of the time,
    # so no threshold reaches 5 % and nothing may be flagged
    items = random_items(80)
    counts = choice_counts(items, [["A"] * 80] * 6)
    cal, flags = calibrate(items, counts, 6, permutations=200)
    assert cal.k == 7 and not flags.any()
    assert cal.rate_by_k[5][2] == pytest.approx(0.25)


def test_fit_on_other_split_and_residual_is_not_circular():
    train, test = edited_items(200, seed=1), edited_items(100, seed=2)
    test = test + random_items(100, seed=3)
    test = [it.with_(id=f"t{i}") for i, it in enumerate(test)]
    audit = run_audit(test, resolve(["heuristics", "lr_dense"]), fit_items=train, fit_name="train.json",
                      permutations=300, progress=False, residual=True)
    lr = {a.name: a for a in audit.adversaries}["lr_dense"]
    assert lr.fit == "fit on train.json"
    assert audit.folds is None
    loo = {r.name: r for r in audit.residual if r.method == "leave-one-out"}
    # leave-one-out: recompute the subset selected without lr_dense and score lr_dense on it
    others = [a.letters for a in audit.adversaries if a.name != "lr_dense"]
    _, flags = calibrate(test, choice_counts(test, others), len(others), permutations=300, seed=0)
    keep = [i for i, f in enumerate(flags) if not f]
    assert loo["lr_dense"].n == len(keep)
    assert loo["lr_dense"].stats["all"].correct == sum(lr.correct[i] for i in keep)
    assert any(r.method == "refit" and r.name == "lr_dense" for r in audit.residual)


def test_audit_rejects_unusable_input():
    with pytest.raises(AuditError, match="no items"):
        run_audit([], resolve(FAST), progress=False)
    with pytest.raises(AuditError, match="2 slides"):
        run_audit(edited_items(20, slides=1), resolve(FAST), progress=False)


def test_items_with_different_option_counts():
    items = [it.with_(id=f"k3-{i}") for i, it in enumerate(edited_items(60, seed=1, n_options=3))]
    items += [it.with_(id=f"k6-{i}") for i, it in enumerate(edited_items(60, seed=2, n_options=6))]
    audit = run_audit(items, resolve(["centroid_jacc", "lr_dense", "position_prior"]), permutations=200,
                      progress=False)
    s = {a.name: a for a in audit.adversaries}["centroid_jacc"].stats["all"]
    assert s.chance == pytest.approx((1 / 3 + 1 / 6) / 2)
    assert s.kappa == pytest.approx((s.accuracy - s.chance) / (1 - s.chance))
    letters = {c.name for c in artifact_checks(items) if c.name.startswith("letter_")}
    assert letters == {f"letter_{x}" for x in "ABCDEF"}
