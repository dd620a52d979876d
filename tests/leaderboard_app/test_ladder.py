"""The Ladder (:mod:`leaderboard_app.ladder`): the paired significance rule, rounding, per-dimension steps and the
reply text."""

from __future__ import annotations

import pytest

from leaderboard_app.ladder import above_chance, describe, dimension_step, improves, ladder, round_to, rounded
from tests.helpers.items import make_key

KEY = make_key(201)  # 1005 items


def scores(acc: float, per: float | None = None) -> dict:
    dims = {d: {"acc": per if per is not None else acc, "n": 201} for d in ("correspondence", "confirmation")}
    return {"n_items": 1005, "macro": {"acc": acc}, "strict_macro": acc, "per_dimension": dims,
            "format_rate": 0.987}


def test_improves_is_a_one_sided_paired_test_against_its_standard_error():
    best = [False] * 1005
    assert not improves(best, best)  # no difference
    three = [i < 3 for i in range(1005)]
    assert improves(three, best)  # mean 3/n > se = sqrt(3)/n
    # +5 and -4: mean 1/n < se ≈ 3/n
    mixed_best = [5 <= i < 9 for i in range(1005)]
    assert not improves([i < 5 for i in range(1005)], mixed_best)
    assert not improves([True], [False])  # too few items to test


def test_rounding_and_per_dimension_steps_never_finer_than_the_overall_step():
    assert round_to(0.5349, 0.01) == 0.53 and round_to(0.5351, 0.01) == 0.54
    assert dimension_step(0.01, 1005, 201) == pytest.approx(0.05)  # 10 items either way
    shown = rounded(scores(0.5341, per=0.6119), 0.01)
    assert shown["macro"] == 0.53 and shown["strict_macro"] == 0.53
    assert all(v == 0.6 for v in shown["per_dimension"].values())
    assert shown["format_rate"] == 0.987  # does not depend on the key


def test_ladder_discloses_only_significant_improvements_above_chance():
    chance = [it.answer == "A" for it in KEY]  # about a quarter right
    assert not above_chance(chance, KEY)
    assert ladder(chance, [], scores(0.25), 0.01, KEY) == {"shown": False, "best_id": None, "best_macro": None,
                                                             "chance": True}
    good = [i % 2 == 0 for i in range(1005)]
    assert ladder(good, [], scores(0.5), 0.01, KEY)["macro"] == 0.5
    better = [i % 2 == 0 or i < 60 for i in range(1005)]
    assert ladder(better, [(7, 0.5, good)], scores(0.53), 0.01, KEY)["shown"]
    barely = [i % 2 == 0 or i < 3 for i in range(1005)]  # significant, but the rounded AVG stays 0.50
    assert ladder(barely, [(7, 0.5, good)], scores(0.5015), 0.01, KEY) == {"shown": False, "best_id": 7,
                                                                            "best_macro": 0.5}


def test_the_reply_shows_rounded_numbers_or_the_earlier_best():
    names = {"correspondence": "Corresp.", "confirmation": "Confirm."}
    text = describe(rounded(scores(0.5341), 0.01), names)
    assert text.startswith("AVG 53, Corresp. 55, Confirm. 55, format 98.7 %") and "rounded to 1 point" in text
    assert "no significant improvement over the earlier best #7 (AVG 50)" in describe(
        {"shown": False, "best_id": 7, "best_macro": 0.5}, names)
    assert "above chance" in describe({"shown": False, "chance": True}, names)


def test_the_cached_chance_threshold_agrees_with_the_exact_test():
    from leaderboard_app.ladder import CHANCE_ALPHA, chance_threshold
    from scale_vqa.stats import chance_test

    key = make_key(20)
    probs = [1 / len(it.letters) for it in key]
    k = chance_threshold(tuple(len(it.letters) for it in key))
    assert chance_test(k, probs)[0] < CHANCE_ALPHA <= chance_test(k - 1, probs)[0]
    assert above_chance([True] * k + [False] * (len(key) - k), key)
    assert not above_chance([True] * (k - 1) + [False] * (len(key) - k + 1), key)


def test_the_fast_answer_distance_counts_exactly_what_changed_counts():
    import random

    from leaderboard_app.rules import Distance, Earlier, answer_bits, changed

    rng = random.Random(0)
    ids = [f"i{n}" for n in range(300)]
    for _ in range(50):
        a = {i: rng.choice(["A", "B", "C", "D", "J", None]) for i in ids}
        b = {i: (v if rng.random() < 0.8 else rng.choice(["A", "B", "E", None])) for i, v in a.items()}
        for other in (b, dict(reversed(list(b.items()))), {**b, "extra": "A"}, {**b, ids[0]: "Z"}):
            e = Earlier(1, "s", "m", "f", other, 0.0, "published", bits=answer_bits(other))
            assert Distance(a)(e) == changed(a, other)
