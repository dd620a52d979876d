"""Probing attacks on the default (private-key) leaderboard, as an outsider runs them: a hidden 1005-item key, a
fresh SQLite store, at most 400 submissions through :func:`leaderboard_app.service.submit`, and only what the
replies disclose to learn from. Each must recover at most 50 answers beyond what guessing gets. The clock either
runs fast (one submission a second, as the issue's attack did) or patiently (one an hour, so that the server-wide
limit on new names never binds and only the other defences stand)."""

from __future__ import annotations

import dataclasses
import json
import random

import pytest

from leaderboard_app.rules import Policy
from leaderboard_app.service import submit
from leaderboard_app.store import SQLiteStore
from leaderboard_app.submission import SubmissionError
from tests.helpers.items import make_key

LINK = "https://huggingface.co/org/model"
BUDGET = 400
MAX_RECOVERED = 50
_rng = random.Random(16)
KEY = [dataclasses.replace(it, answer=_rng.choice(it.letters)) for it in make_key(201)]  # 1005 items, gold
# letters shuffled (make_key cycles A–D, which an attacker would simply guess)
GOLD = {it.id: it.answer for it in KEY}
IDS = [it.id for it in KEY]
LETTERS = {it.id: it.letters for it in KEY}
_LINE = {(i, a): (json.dumps({"id": i, "prediction": a}) + "\n").encode() for i in IDS for a in (*LETTERS[i], None)}
"""Each possible upload line, encoded once (the attacks build 400 uploads of 1005 lines each)."""


def upload(answers: dict[str, str | None]) -> bytes:
    return b"".join(_LINE[i, a] for i, a in answers.items())


def recovered(guesses: dict[str, str]) -> float:
    """Correct guesses beyond what guessing the same items at random gets."""
    return sum(GOLD[i] == g for i, g in guesses.items()) - sum(1 / len(it.letters) for it in KEY if it.id in guesses)


class Oracle:
    """The leaderboard as the attacker sees it: submit an answer set, read the disclosed AVG (None when refused or
    not disclosed)."""

    def __init__(self, tmp_path, seconds_per_submission: float) -> None:
        self.store = SQLiteStore(tmp_path / "lb.sqlite")
        self.clock = 1_000_000.0
        self.tick = seconds_per_submission
        self.used = 0
        self.refused = 0
        self.last_refusal = ""

    def __call__(self, answers: dict[str, str | None], submitter: str, model: str) -> float | None:
        assert self.used < BUDGET
        self.used += 1
        self.clock += self.tick
        data = upload(answers)
        try:
            out = submit(self.store, KEY, data, submitter=submitter, model=model, link=LINK, now=self.clock)
        except SubmissionError as exc:
            self.refused += 1
            self.last_refusal = exc.summary
            return None
        shown = out.shown or {}
        return shown.get("macro") if shown.get("shown") else None


CLOCKS = [pytest.param(1.0, id="fast"), pytest.param(3600.0, id="patient")]


def test_null_probe_group_testing_with_a_new_name_per_probe(tmp_path):
    """Answer a group of items with one letter and leave the rest null; a positive score means the group holds
    that letter somewhere; split it until one item is left. (One clock: a null answer is refused whatever the
    time, and a refused probe stores nothing, so no time-dependent limit ever comes into play.)"""
    oracle = Oracle(tmp_path, 1.0)
    guesses: dict[str, str] = {}
    queue = [(IDS[i:i + 8], "A") for i in range(0, len(IDS), 8)]
    n = 0
    while queue and oracle.used < BUDGET:
        group, letter = queue.pop(0)
        n += 1
        answers = {i: (letter if i in group else None) for i in IDS}
        avg = oracle(answers, f"prober{n}", f"probe-model-{n}")
        if avg is None or avg <= 0:
            continue
        if len(group) == 1:
            guesses[group[0]] = letter
        else:
            queue += [(group[: len(group) // 2], letter), (group[len(group) // 2:], letter)]
    assert oracle.refused == oracle.used  # null answers are refused outright
    assert "not answered" in oracle.last_refusal
    assert recovered(guesses) <= MAX_RECOVERED


def own_model(accuracy: float, rng: random.Random) -> dict[str, str]:
    """An answer set right on about `accuracy` of the items (the attacker's own model; 0: random letters)."""
    return {it.id: it.answer if rng.random() < accuracy else rng.choice(it.letters) for it in KEY}


def differential(oracle: Oracle, flips: int, name, base: dict[str, str] | None = None) -> dict[str, str]:
    """Submit a base answer set, then copies with `flips` answers changed, each under a new name and model; a
    higher disclosed AVG credits the new letters, a lower one the old."""
    rng = random.Random(flips)
    base = base or own_model(0.0, rng)
    base_avg = oracle(base, name(0), "base-model")
    evidence: dict[tuple[str, str], float] = {}
    n = 0
    while oracle.used < BUDGET:
        n += 1
        group = rng.sample(IDS, flips)
        probe = dict(base)
        for i in group:
            probe[i] = rng.choice([x for x in LETTERS[i] if x != base[i]])
        avg = oracle(probe, name(n), f"diff-model-{n}")
        if avg is None or base_avg is None:
            continue
        delta = avg - base_avg
        for i in group:
            evidence[(i, probe[i])] = evidence.get((i, probe[i]), 0.0) + delta
            evidence[(i, base[i])] = evidence.get((i, base[i]), 0.0) - delta
    guesses: dict[str, str] = {}
    for (i, letter), score in sorted(evidence.items(), key=lambda kv: kv[1]):
        if score > 0:
            guesses[i] = letter  # the best-scoring letter of each item wins (sorted ascending)
    return guesses


@pytest.mark.parametrize("flips", [25, 120])
def test_full_vector_differential_probing_over_many_names(tmp_path, flips):
    """From a random base, one submission a second (the issue's attack): the limit on new typed names binds after
    20 names. The patient form of this attack is the one below from a real model's answers (a random base is
    never above chance, so nothing would be disclosed to it at all) and the boosting attack (random answer sets
    over 400 names); single flips are refused as near-copies of the base whatever the base, which the test below
    shows from a base whose score is disclosed."""
    oracle = Oracle(tmp_path, 1.0)
    guesses = differential(oracle, flips, lambda n: f"name{n}")
    assert recovered(guesses) <= MAX_RECOVERED


@pytest.mark.parametrize("flips", [1, 25, 120])
def test_differential_probing_from_a_real_models_answers(tmp_path, flips):
    """The same from the answers of a model of the attacker's own (about 60 % right, so its scores are disclosed):
    what it learns is measured as the answers it gets right beyond those its base already had."""
    oracle = Oracle(tmp_path, 3600.0)
    base = own_model(0.6, random.Random(99))
    guesses = differential(oracle, flips, lambda n: f"owner{n}", base)
    gained = sum(GOLD[i] == g for i, g in guesses.items()) - sum(GOLD[i] == base[i] for i in guesses)
    assert gained <= MAX_RECOVERED


@pytest.mark.parametrize("flips", [25, 120])
def test_differential_probing_that_keeps_the_best_probe_as_its_base(tmp_path, flips):
    """Hill climbing: whenever a probe is disclosed (it beat its neighbours), it becomes the new base. The answer
    set the attacker ends with must not be much better than guessing."""
    oracle = Oracle(tmp_path, 3600.0)
    rng = random.Random(flips + 1)
    base = {it.id: rng.choice(it.letters) for it in KEY}
    oracle(base, "climber0", "climb-0")
    n = 0
    while oracle.used < BUDGET:
        n += 1
        probe = dict(base)
        for i in rng.sample(IDS, flips):
            probe[i] = rng.choice([x for x in LETTERS[i] if x != base[i]])
        if oracle(probe, f"climber{n}", f"climb-{n}") is not None:
            base = probe
    assert recovered(base) <= MAX_RECOVERED


@pytest.mark.parametrize("tick", CLOCKS)
def test_single_name_padded_probes(tmp_path, tick):
    """One name, one model: answer sets padded with one letter (or a two-letter pattern) around a varied group;
    a disclosed AVG credits the group's letters."""
    oracle = Oracle(tmp_path, tick)
    rng = random.Random(3)
    guesses: dict[str, str] = {}
    n = 0
    while oracle.used < BUDGET:
        n += 1
        group = rng.sample(IDS, 30)
        pad = (lambda k: "A") if n % 2 else (lambda k: "AB"[k % 2])
        answers = {i: pad(k) for k, i in enumerate(IDS)}
        for i in group:
            answers[i] = rng.choice("ABCD")
        avg = oracle(answers, "mallory", "padded")
        if avg is not None:
            guesses.update({i: answers[i] for i in group})
    assert recovered(guesses) <= MAX_RECOVERED


def test_boosting_random_answer_sets_over_many_names(tmp_path):
    """Blum & Hardt's boosting attack: many random answer sets, then a vote of those whose disclosed AVG is above
    the median."""
    oracle = Oracle(tmp_path, 3600.0)
    rng = random.Random(5)
    seen: list[tuple[float, dict[str, str]]] = []
    for n in range(BUDGET):
        answers = {it.id: rng.choice(it.letters) for it in KEY}
        avg = oracle(answers, f"booster{n}", f"boost-{n}")
        if avg is not None:
            seen.append((avg, answers))
    seen.sort(key=lambda s: s[0])
    good = [a for _, a in seen[len(seen) // 2:]]
    guesses = {}
    for i in IDS:
        votes = [a[i] for a in good]
        if votes:
            guesses[i] = max(set(votes), key=votes.count)
    assert recovered(guesses) <= MAX_RECOVERED


def test_the_attacks_would_work_without_the_defences(tmp_path):
    """The single-flip differential attack against a public key (exact scores, no probing defences) recovers far
    more than 50 answers: the tests above measure the defences, not a weak attacker."""
    oracle = Oracle(tmp_path, 1.0)
    public = Policy(private=False)

    def open_submit(answers, submitter, model):
        data = upload(answers)
        oracle.used += 1
        oracle.clock += 1
        out = submit(oracle.store, KEY, data, submitter=submitter, model=model, link=LINK, now=oracle.clock,
                     policy=public)
        return out.shown["macro"]

    rng = random.Random(1)
    base = {it.id: rng.choice(it.letters) for it in KEY}
    base_avg = open_submit(base, "n0", "m0")
    guesses = {}
    for n, i in enumerate(rng.sample(IDS, BUDGET - 1), 1):
        letter = next(x for x in "ABCD" if x != base[i])
        delta = open_submit({**base, i: letter}, f"n{n}", f"m{n}") - base_avg
        if delta > 0:
            guesses[i] = letter
        elif delta < 0:
            guesses[i] = base[i]
    assert recovered(guesses) > 2 * MAX_RECOVERED


def test_an_honest_improvement_of_five_points_is_disclosed(tmp_path):
    """A model at about 50 % whose next version fixes 100 wrong answers and breaks 50 right ones (+5 points) gets
    the new score disclosed and ranked; a version that changes little gets "no significant improvement"."""
    oracle = Oracle(tmp_path, 3600.0)
    rng = random.Random(7)
    v1 = {it.id: it.answer if rng.random() < 0.5 else rng.choice([x for x in it.letters if x != it.answer])
          for it in KEY}
    first = oracle(v1, "honest", "Honest-VL")
    right = [i for i in IDS if v1[i] == GOLD[i]]
    wrong = [i for i in IDS if v1[i] != GOLD[i]]
    v2 = dict(v1)
    for i in rng.sample(wrong, 100):
        v2[i] = GOLD[i]
    for i in rng.sample(right, 50):
        v2[i] = next(x for x in "ABCD" if x != GOLD[i])
    second = oracle(v2, "honest", "Honest-VL")
    assert first is not None and second is not None and second - first == pytest.approx(0.05, abs=0.011)
    v3 = dict(v2)
    for i in rng.sample([i for i in IDS if v2[i] != GOLD[i]], 30):
        v3[i] = GOLD[i]
    for i in rng.sample([i for i in IDS if v2[i] == GOLD[i]], 26):
        v3[i] = next(x for x in "ABCD" if x != GOLD[i])
    assert oracle(v3, "honest", "Honest-VL") is None  # +4 items: not significant
    rows = oracle.store.rows()
    from leaderboard_app.table import build_table

    table = [r for r in build_table(rows, KEY, private=True) if r.source == "measured"]
    assert [(r.model, r.macro) for r in table] == [("Honest-VL", second)]
