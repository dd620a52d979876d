"""The structure adversaries (option-text frequency, shared option sets solved jointly, question–option match,
learned over all of them) and the encode-once embedding cache."""

from __future__ import annotations

import hashlib
from collections import Counter
from concurrent.futures import Future

import numpy as np
import pytest

pytest.importorskip("sklearn")

from baselines.answerer import Answer, Answerer
from baselines.text_only import embedding
from baselines.text_only.embedding import Embedder, panel_texts
from baselines.text_only.filecontext import FileContext, joint_assignment
from baselines.text_only.panel import run_panel
from baselines.text_only.registry import AdversarySpec, adversary_specs, resolve
from baselines.text_only.structure import (
    MATCH_LEARNED,
    STRUCTURE_NAMES,
    FileAnswerer,
    JointMatch,
    MatchLearned,
    OptionFrequency,
    QuestionMatch,
)
from tests.helpers.audit_data import edited_items, matched_blocks, one_thread, random_items, recurring_items  # noqa: F401


def accuracy(answers, items) -> float:
    return sum(a.letter == it.answer for a, it in zip(answers, items, strict=True)) / len(items)


def panel_accuracy(items, names) -> dict[str, float]:
    results, _ = run_panel(items, resolve(names), folds=4, progress=False, shuffle_check=False)
    return {r.name: r.stats["all"].accuracy for r in results}


class FakeModel:
    """Stands in for the sentence-transformers model: hash-seeded unit vectors, counting what it encodes."""

    def __init__(self, dim: int = 16) -> None:
        self.dim, self.seen, self.calls = dim, Counter(), 0

    def encode(self, texts, **_kwargs):
        self.calls += 1
        self.seen.update(texts)
        vecs = [np.random.default_rng(int(hashlib.sha256(t.encode()).hexdigest()[:8], 16)).normal(size=self.dim)
                for t in texts]
        v = np.array(vecs, dtype=np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_joint_assignment_is_one_to_one_and_respects_capacity():
    s = np.array([[0.9, 0.8, 0.0], [0.9, 0.1, 0.0], [0.5, 0.4, 0.3]])
    assert joint_assignment(s, ("t",)) == [1, 0, 2]
    # more questions than texts: each text serves at most ceil(4/2) = 2 of them
    cols = joint_assignment(np.array([[1.0, 0.0]] * 4), ("t",))
    assert sorted(cols) == [0, 0, 1, 1]


@pytest.mark.parametrize("measure", ["tfidf", "bm25"])
def test_joint_solving_finds_what_per_item_matching_misses(measure):
    items = matched_blocks(40, cue="hub")
    ctx = FileContext(items)
    assert len(ctx.groups) == 40 and all(len(g) == 4 for g in ctx.groups)
    alone = accuracy(QuestionMatch(measure).answer(items), items)
    joint = accuracy(JointMatch(measure).answer(items), items)
    assert alone < 0.4  # each item alone picks the block's hub text
    assert joint > 0.9


def test_joint_falls_back_to_per_item_on_unique_option_sets():
    items = edited_items(60) + random_items(60, seed=3)
    ctx = FileContext(items)
    assert ctx.groups == [] and all(g == -1 for g in ctx.group_of)
    for measure in ("tfidf", "bm25"):
        for it, a in zip(items, JointMatch(measure).answer(items), strict=True):
            assert a.scores[it.letters.index(a.letter)] == max(a.scores)  # the item's own best match
            assert ctx.assigned(it, measure, 0) == [0.0] * it.n_options


def test_question_matching_finds_a_lexical_cue_on_unique_option_sets():
    items = matched_blocks(40, cue="own")
    items = [it.with_(options=tuple(f"{o} {it.id}" for o in it.options)) for it in items]  # no shared sets
    assert FileContext(items).groups == []
    for measure in ("tfidf", "bm25"):
        assert accuracy(QuestionMatch(measure).answer(items), items) > 0.9


def test_option_frequency_learns_its_direction():
    for gold_recurs in (True, False):
        train, test = recurring_items(150, seed=1, gold_recurs=gold_recurs), recurring_items(
            100, seed=2, gold_recurs=gold_recurs)
        model = OptionFrequency().fit(train)
        assert set(model.direction.values()) == {1.0 if gold_recurs else -1.0}
        assert accuracy(model.answer(test), test) > 0.9
    flat = random_items(300, seed=5)  # every text unique: only ties, broken at random
    assert 0.15 < accuracy(OptionFrequency().fit(random_items(100)).answer(flat), flat) < 0.35


def test_structure_adversaries_stay_at_chance_on_an_exchangeable_file():
    items = matched_blocks(100, cue="none")  # shared option sets, questions unrelated to the golds
    acc = panel_accuracy(items, ["option_frequency", "qo_tfidf", "qo_bm25", "joint_tfidf", "joint_bm25",
                                 "lr_match", "centroid_jacc"])
    for name, a in acc.items():
        assert 0.17 < a < 0.33, (name, a)


def test_cross_fitted_learned_structure_model_finds_joint_and_frequency_leaks():
    acc = panel_accuracy(matched_blocks(60, cue="hub"), ["lr_match", "qo_tfidf"])
    assert acc["qo_tfidf"] < 0.4 and acc["lr_match"] > 0.85
    assert panel_accuracy(recurring_items(200, seed=4), ["lr_match"])["lr_match"] > 0.85


def test_learned_structure_model_refuses_before_fit():
    from baselines.answerer import AnswererError

    with pytest.raises(AnswererError, match="fitted"):
        MatchLearned(MATCH_LEARNED[0]).answer(edited_items(3))


def test_cross_fitted_copies_observe_the_whole_file():
    seen: list[tuple[int, int]] = []

    class Spy(FileAnswerer):
        name, description, trainable = "spy", "records what it sees", True

        def fit(self, items):
            seen.append((len(self.context.items), len(items)))
            return self

        def answer(self, items):
            return OptionFrequency.answer(self, items)

    Spy.direction = {}
    items = matched_blocks(20)
    run_panel(items, [AdversarySpec("spy", "structure", "spy", lambda s: Spy(s))], folds=4, progress=False,
              shuffle_check=False)
    assert len(seen) == 4 and all(n_file == len(items) and n_fit < len(items) for n_file, n_fit in seen)


def test_registry_lists_the_structure_adversaries():
    from baselines.text_only.region import region_specs

    specs = adversary_specs()
    names = STRUCTURE_NAMES | {r.name for r in region_specs()}
    assert set(specs) >= names
    assert {s.name for s in resolve(["structure"])} == {n for n in names if specs[n].available}
    assert {"option_frequency", "joint_bm25"} <= {s.name for s in resolve(["fast"])}
    for name in STRUCTURE_NAMES:
        assert len(specs[name].description) > 30 and "(" not in specs[name].name


def test_each_distinct_text_is_encoded_once_per_run(monkeypatch):
    fake = FakeModel()
    monkeypatch.setattr(embedding, "_SHARED", Embedder(model=fake))
    items = matched_blocks(12, cue="own") + edited_items(24, seed=3)
    names = ["emb_centroid", "emb_question_sim", "joint_emb", "lr_all+emb", "gbm_match+emb"]
    monkeypatch.setattr(AdversarySpec, "available", property(lambda self: True))
    results, _ = run_panel(items, resolve(names), folds=3, progress=False)
    assert [r.name for r in results] == names
    assert set(fake.seen) == set(panel_texts(items)) and max(fake.seen.values()) == 1
    assert fake.calls == 1  # one batch for the whole run
    assert embedding._SHARED.encoded == len(fake.seen)
    assert all(r.to_dict()["embedding"] == {"model": "FakeModel", "dtype": None} for r in results)
    plain, _ = run_panel(items, resolve(["lr_dense"]), folds=3, progress=False)
    assert "embedding" not in plain[0].to_dict()


def test_a_prefetched_batch_is_collected_not_re_encoded():
    fake = FakeModel()
    emb = Embedder(model=fake)
    future: Future[tuple[np.ndarray, str]] = Future()
    future.set_result((FakeModel().encode(["a", "b"]), "bfloat16"))
    emb._pending = (future, ["a", "b"])
    vecs = emb.encode(["b", "a", "c"])
    assert vecs.shape == (3, 16) and fake.seen == Counter({"c": 1})
    assert emb.settings["dtype"] == "bfloat16"  # what the worker reported
    failed: Future[tuple[np.ndarray, str]] = Future()
    failed.set_exception(RuntimeError("worker died"))
    emb._pending = (failed, ["d"])
    emb.encode(["d"])
    assert fake.seen == Counter({"c": 1, "d": 1})


def test_shared_sets_above_the_size_cap_are_answered_alone(monkeypatch):
    from baselines.text_only import filecontext

    items = matched_blocks(10, cue="hub")
    monkeypatch.setattr(filecontext, "JOINT_MAX_ITEMS", 3)
    ctx = FileContext(items)
    assert len(ctx.groups) == 10 and ctx.joint("bm25", 0) == [None] * len(items)
    assert accuracy(JointMatch("bm25").answer(items), items) < 0.4


class Recorder(Answerer):
    """Answers A everywhere and logs when it ran; `then` runs after it answered."""

    def __init__(self, name: str, log: list[str], then=None) -> None:
        self.name, self.log, self.then = name, log, then

    def answer(self, items):
        self.log.append(self.name)
        if self.then is not None:
            self.then()
        return [Answer("A") for _ in items]


def test_embedding_adversaries_run_once_the_background_encoding_is_done(monkeypatch):
    """Not last: the adversaries that need no vectors fill the wait, and whatever of them is left runs after."""
    emb = Embedder(model=FakeModel())
    pending: Future[tuple[np.ndarray, str]] = Future()
    emb._pending = (pending, ["a"])
    monkeypatch.setattr(embedding, "_SHARED", emb)
    log: list[str] = []

    def finish() -> None:
        pending.set_result((FakeModel().encode(["a"]), "bfloat16"))

    def spec(name: str, needs: tuple[str, ...] = (), then=None) -> AdversarySpec:
        return AdversarySpec(name, "heuristic", name, lambda s: Recorder(name, log, then), needs)

    specs = [spec("emb", ("sentence_transformers",)), spec("plain1"), spec("plain2", then=finish), spec("plain3"),
             spec("plain4")]
    results, _ = run_panel(random_items(8, seed=1), specs, progress=False, shuffle_check=False,
                           prefetch_embeddings=False)
    assert log == ["plain1", "plain2", "emb", "plain3", "plain4"]
    assert [r.name for r in results] == [s.name for s in specs]  # reported in the order asked for
    assert emb.ready
