"""parse_answer / check_format: the one parser every part of Scale-VQA scores with."""

from __future__ import annotations

import pytest

from scale_vqa.parse import check_format, last_answer_tag, parse_answer, seed_answer_letter

# The five cases documented in the seed's reward function (iMVR-PL/ScaleReasoner-R1,
# verl/verl/utils/reward_score/cross_scale_vqa.py, __main__): (output, gold, seed format, seed accuracy).
SEED_CASES = [
    pytest.param("<think>This tissue shows necrosis.</think><answer>B</answer>", "B", 1.0, 1.0, id="perfect"),
    pytest.param("<think>These cells are hyperchromatic.</think><answer>C</answer>", "A", 1.0, 0.0,
                 id="wrong-letter"),
    pytest.param("<answer>A</answer>", "A", 0.0, 1.0, id="missing-think"),
    pytest.param("<think>Okay</think><answer>D</answer> The correct diagnosis is D.", "D", 0.0, 1.0,
                 id="text-after-answer"),
    pytest.param("<think>Okay</think><answer>The correct diagnosis is D.</answer> ", "D", 0.0, 0.0,
                 id="option-text-inside-answer"),
]


@pytest.mark.parametrize(("output", "gold", "seed_format", "seed_acc"), SEED_CASES)
def test_seed_reward_cases(output: str, gold: str, seed_format: float, seed_acc: float) -> None:
    parsed = parse_answer(output, "ABCD")
    # Accuracy as the seed computes it: the letter read from the tag equals the gold letter.
    assert float(parsed.letter == gold and parsed.strict) == seed_acc
    # The seed requires the closing tag; our format check agrees when asked to.
    assert check_format(output, require_closing=True) == bool(seed_format)
    assert parsed.format_ok == bool(seed_format)
    assert (seed_answer_letter(output) == gold) == bool(seed_acc)


@pytest.mark.parametrize(("text", "letter"), [
    ("<answer>B</answer>", "B"),
    ("<answer> b </answer>", "B"),
    ("<answer>(C)</answer>", "C"),
    ("<answer>[D]</answer>", "D"),
    ("<answer>B.</answer>", "B"),
    ("<answer>B. Benign fibrous tissue</answer>", "B"),
    ("<answer>C) Tumour nests</answer>", "C"),
    ("<answer>**A**</answer>", "A"),
    ("<ANSWER>D</ANSWER>", "D"),
    ("<answer>\n  A\n</answer>", "A"),
    ("<think>x</think> <answer>B", "B"),  # lm-eval strips the stop string </answer>
    ("<think>x</think> <answer>B\n", "B"),
])
def test_strict_tag_forms(text: str, letter: str) -> None:
    parsed = parse_answer(text, "ABCD")
    assert parsed.letter == letter
    assert parsed.strict and parsed.method == "tag"


@pytest.mark.parametrize("text", [
    "<answer>Benign</answer>",
    "<answer>Benign",
    "<answer>benign</answer>",
    "<answer>A benign lesion</answer>",
    "<answer>a benign lesion</answer>",
    "<answer>I think B</answer>",
    "<answer>The correct diagnosis is D.</answer>",
    "<answer></answer>",
    "<answer>E</answer>",  # not an option of a four-option item
    "",
    "No idea.",
    "the answer is a benign tumour",
])
def test_no_letter(text: str) -> None:
    parsed = parse_answer(text, "ABCD")
    assert parsed.letter is None
    assert not parsed.strict and not parsed.format_ok and parsed.method == "none"


def test_none_input() -> None:
    assert parse_answer(None).letter is None


def test_last_tag_wins() -> None:
    text = "<think>first I thought <answer>A</answer></think> <answer>C</answer>"
    assert parse_answer(text, "ABCD").letter == "C"
    assert seed_answer_letter(text) == "A"  # the seed reads the first tag: a documented difference


def test_last_tag_unparseable_does_not_fall_back_to_earlier_tag() -> None:
    parsed = parse_answer("<answer>A</answer> on reflection <answer>Benign</answer>", "ABCD")
    assert parsed.letter is None


def test_last_answer_tag_reports_closing() -> None:
    assert last_answer_tag("x <answer>B</answer>") == ("B", True)
    assert last_answer_tag("x <answer>B") == ("B", False)
    assert last_answer_tag("no tag") is None


@pytest.mark.parametrize(("text", "letter"), [
    ("Answer: C", "C"),
    ("The answer is (D).", "D"),
    ("**Answer:** B", "B"),
    ("Final answer: C) tumour nests", "C"),
    ("<think>long reasoning</think>\nC", "C"),
    ("<think>Option A is wrong</think>\nOption B is correct", "B"),
    ("Reasoning first.\n(B)\n", "B"),
    ("<answer>Option B</answer>", "B"),
])
def test_lenient_fallback(text: str, letter: str) -> None:
    parsed = parse_answer(text, "ABCD")
    assert parsed.letter == letter
    assert parsed.method == "lenient" and parsed.lenient
    assert not parsed.strict and not parsed.format_ok


def test_lenient_reads_after_think_only() -> None:
    # "Option A" inside the reasoning must not be taken when the final part names another option.
    text = "<think>Option A is tempting. Option D too.</think>\nAnswer: B"
    assert parse_answer(text, "ABCD").letter == "B"


def test_letters_restrict_the_answer() -> None:
    assert parse_answer("<answer>E</answer>", "ABCDE").letter == "E"
    assert parse_answer("<answer>E</answer>", "ABCD").letter is None
    assert parse_answer("<answer>B</answer>", "AB").letter == "B"


@pytest.mark.parametrize(("text", "ok"), [
    ("<think>r</think><answer>B</answer>", True),
    ("<think>r</think>\n<answer> B </answer>\n", True),
    ("<think>r</think> <answer>B", True),            # stripped stop string tolerated by default
    ("<answer>B</answer>", False),                     # no think block
    ("<think>r</think><answer>B</answer> extra", False),
    ("<think>r</think><answer>B</answer><answer>B</answer>", False),
    ("<think>r</think><answer>(B)</answer>", False),   # only a letter is allowed inside the tag
    ("<think>r</think><answer>Z</answer>", False),     # not an option letter
    ("<think>r</think></answer>B<answer>", False),
])
def test_check_format(text: str, ok: bool) -> None:
    assert check_format(text, "ABCD") is ok


def test_check_format_require_closing() -> None:
    assert check_format("<think>r</think> <answer>B") is True
    assert check_format("<think>r</think> <answer>B", require_closing=True) is False


@pytest.mark.parametrize(("text", "letter"), [
    ("<answer>(A) benign</answer>", "A"),
    ("<answer>B is the best option</answer>", "B"),
    ("<answer>(Benign)</answer>", None),
    ("<answer>A benign</answer>", None),
])
def test_letter_boundaries(text: str, letter: str | None) -> None:
    assert parse_answer(text, "ABCD").letter == letter
