"""Reward functions: the seed's documented cases, its code-vs-paper differences, the scale_vqa mode, TRL's calling
convention and the optional entity-consistency reward. Pure Python (no torch)."""

from __future__ import annotations

import pytest

from training_reference.rewards import (
    PATHOLOGY_ENTITIES,
    RewardSpec,
    _entity_pattern,
    accuracy_score,
    completion_text,
    entities,
    entity_f1,
    format_score,
    make_reward_funcs,
    total_reward,
)

# The five cases in the seed's reward module (iMVR-PL/ScaleReasoner-R1, verl/verl/utils/reward_score/
# cross_scale_vqa.py, __main__), with the format, accuracy and final scores it prints for them.
SEED_CASES = [
    pytest.param("<think>This tissue shows necrosis.</think><answer>B</answer>", "B", 1.0, 1.0, 1.0, id="perfect"),
    pytest.param("<think>These cells are hyperchromatic.</think><answer>C</answer>", "A", 1.0, 0.0, 0.2,
                 id="wrong-letter"),
    pytest.param("<answer>A</answer>", "A", 0.0, 1.0, 0.8, id="missing-think"),
    pytest.param("<think>Okay</think><answer>D</answer> The correct diagnosis is D.", "D", 0.0, 1.0, 0.8,
                 id="text-after-answer"),
    pytest.param("<think>Okay</think><answer>The correct diagnosis is D.</answer> ", "D", 0.0, 0.0, 0.0,
                 id="option-text-inside-answer"),
]


@pytest.mark.parametrize(("text", "gold", "fmt", "acc", "total"), SEED_CASES)
def test_seed_documented_cases(text: str, gold: str, fmt: float, acc: float, total: float) -> None:
    assert format_score(text, "ABCD", "seed") == fmt
    assert accuracy_score(text, gold, "ABCD", "seed") == acc
    assert total_reward(text, gold, "ABCD", "seed") == pytest.approx(total)


@pytest.mark.parametrize(("text", "gold", "fmt", "acc"), [
    # the seed's code accepts any letter A–Z in either case (its paper: "the option letter")
    ("<think>r</think><answer>z</answer>", "A", 1.0, 0.0),
    ("<think>r</think><answer> b </answer>", "B", 1.0, 1.0),
    # the first letter tag decides; two tags fail format
    ("<think>draft <answer>A</answer></think> <answer>C</answer>", "A", 0.0, 1.0),
    # no closing tag: no letter tag for the seed (the evaluator tolerates lm-eval's stripped stop string)
    ("<think>r</think><answer>B", "B", 0.0, 0.0),
    # a think block anywhere satisfies "at least one think block"
    ("<answer>B</answer><think>late</think>", "B", 0.0, 1.0),
])
def test_seed_code_behaviour(text: str, gold: str, fmt: float, acc: float) -> None:
    assert format_score(text, "ABCD", "seed") == fmt
    assert accuracy_score(text, gold, "ABCD", "seed") == acc


@pytest.mark.parametrize(("text", "gold", "fmt", "acc"), [
    ("<think>r</think><answer>z</answer>", "A", 0.0, 0.0),              # not an option of the item
    ("<think>r</think><answer>E</answer>", "E", 0.0, 0.0),
    ("<think>draft <answer>A</answer></think> <answer>C</answer>", "C", 0.0, 1.0),  # last tag, as scored
    ("<think>r</think><answer>(C)</answer>", "C", 0.0, 1.0),            # strict letter, but not the seed format
    ("<think>r</think><answer>B</answer>", "B", 1.0, 1.0),
    ("Answer: B", "B", 0.0, 0.0),                                       # lenient letters earn nothing
])
def test_scale_vqa_mode_scores_like_the_evaluator(text: str, gold: str, fmt: float, acc: float) -> None:
    assert format_score(text, "ABCD", "scale_vqa") == fmt
    assert accuracy_score(text, gold, "ABCD", "scale_vqa") == acc


def test_trl_calling_convention_and_logged_columns() -> None:
    funcs, weights = make_reward_funcs(RewardSpec())
    assert [f.__name__ for f in funcs] == ["accuracy", "format"] and weights == [0.8, 0.2]
    completions = [[{"role": "assistant", "content": "<think>x</think> <answer>B</answer>"}],
                   [{"role": "assistant", "content": [{"type": "text", "text": "<think>x</think><answer>C</answer>"}]}],
                   "no tags"]
    logged: dict[str, list] = {}
    kwargs = {"gold": ["B", "B", "A"], "letters": ["ABCD"] * 3, "id": ["a", "a", "b"], "rationale": ["", "", ""],
              "trainer_state": None, "log_extra": logged.__setitem__, "log_metric": lambda *a: None}
    acc = funcs[0](prompts=[None] * 3, completions=completions, completion_ids=[[]] * 3, **kwargs)
    fmt = funcs[1](prompts=[None] * 3, completions=completions, completion_ids=[[]] * 3, **kwargs)
    assert acc == [1.0, 0.0, 0.0] and fmt == [1.0, 1.0, 0.0]
    assert logged == {"id": ["a", "a", "b"], "gold": ["B", "B", "A"], "answer": ["B", "C", ""]}


def test_completion_text_forms() -> None:
    assert completion_text("plain") == "plain"
    parts = [{"type": "text", "text": "a"}, {"type": "image"}, {"type": "text", "text": "b"}]
    assert completion_text([{"role": "assistant", "content": parts}]) == "ab"


def test_entity_reward_off_by_default_and_weighted_when_on() -> None:
    assert len(make_reward_funcs(RewardSpec())[0]) == 2
    funcs, weights = make_reward_funcs(RewardSpec(entity_weight=0.1))
    assert funcs[-1].__name__ == "entity_consistency" and weights == [0.8, 0.2, 0.1]
    out = funcs[-1](prompts=[None] * 3, rationale=["Dense fibrosis with necrosis."] * 2 + ["No entity here."],
                    completions=["<think>fibrosis and necrosis</think><answer>A</answer>",
                                 "<think>mucin</think><answer>A</answer>",
                                 "<think>fibrosis</think><answer>A</answer>"])
    assert out == [1.0, 0.0, None]  # None: not applicable (TRL ignores it)


def test_entity_matching() -> None:
    pattern = _entity_pattern(PATHOLOGY_ENTITIES)
    assert entities("Tumour NESTS, nuclear\npleomorphism, mitoses and glands.", pattern) == {
        "tumor", "nuclear pleomorphism", "mitosis", "gland"}
    assert entities("glandular", pattern) == set()  # whole words only
    assert entity_f1("<think>fibrosis</think>", "fibrosis and necrosis", pattern) == pytest.approx(2 / 3)


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match=r"reward\.mode"):
        make_reward_funcs(RewardSpec(mode="paper"))  # type: ignore[arg-type]
