"""Prompt formats (seed, labelled, seed_sft) and the variants on top of each."""

from __future__ import annotations

import pytest

from scale_vqa.dimensions import Dimension, Scale
from scale_vqa.formats import FORMATS, PromptFormat
from scale_vqa.item import ImageRefs
from scale_vqa.prompt import ImageSlot, Variant, build_prompt, prompts_for, shuffled_donors
from scale_vqa.release import IMAGE_PLACEHOLDER
from tests.helpers.items import make_item
from tests.helpers.seed_readme import readme_messages

# The first record of iMVR-PL/ScaleReasoner-R1's LLaMA-Factory/data/scale_reasoner_sft_val.json (commit 7bfc688),
# user turn, quoted verbatim: its question and options, then the whole user text as the file holds it (the
# instruction's two "\\n" are literal backslash-n pairs in the file).
SFT_QUESTION = ("In this set of images, which option best reflects the degree of agreement or disagreement between "
                "observations across magnifications?")
SFT_OPTIONS = (
    "The low-power suggestion of a marked desmoplastic stromal response is not clearly corroborated at higher "
    "magnification, where fibrous tissue hyperplasia is described but no trabecular arrangement is noted.",
    "The low-power suggestion of a marked desmoplastic stromal response is corroborated at higher magnification by "
    "a similarly marked desmoplastic stromal response.",
    "The low-power suggestion of a marked desmoplastic stromal response is contradicted at higher magnification by "
    "an absence of fibrous tissue hyperplasia in the stroma.",
    "The low-power suggestion of a marked desmoplastic stromal response is not clearly corroborated at higher "
    "magnification, where only fibrous tissue hyperplasia is described.",
)
SFT_USER_TEXT = (
    "<image>\n<image>\n<image>\n\nIn this set of images, which option best reflects the degree of agreement or "
    "disagreement between observations across magnifications?\n\nOptions:\nA. The low-power suggestion of a marked "
    "desmoplastic stromal response is not clearly corroborated at higher magnification, where fibrous tissue "
    "hyperplasia is described but no trabecular arrangement is noted.\nB. The low-power suggestion of a marked "
    "desmoplastic stromal response is corroborated at higher magnification by a similarly marked desmoplastic "
    "stromal response.\nC. The low-power suggestion of a marked desmoplastic stromal response is contradicted at "
    "higher magnification by an absence of fibrous tissue hyperplasia in the stroma.\nD. The low-power suggestion "
    "of a marked desmoplastic stromal response is not clearly corroborated at higher magnification, where only "
    "fibrous tissue hyperplasia is described.\n\nYou are a pathology expert. You are tasked with analyzing "
    "pathology images to generate a detailed description to help you answer the question. First analyze the "
    "images and produce a self-contained description—detailed enough that can lead to the correct answer. Wrap "
    "the entire description in <description> </description> tags.\\n\nNext, engage in an internal dialogue and "
    "include self-reflection or verification in your reasoning process. Provide your detailed, step-by-step "
    "reasoning based on the image description information and the images, and enclose this part within <think> "
    "</think> tags.\\n\nFinally, provide ONLY the single best option letter inside <answer> </answer>. The "
    "output format should be: <description> image description here </description> <think> reasoning process here "
    "</think> <answer>FINAL ANSWER here</answer>."
)


def _image(slot: ImageSlot) -> dict[str, str]:
    return {"type": "image", "image": slot.path}


def test_seed_messages_are_the_readme_inference_structure() -> None:
    item = make_item(4, Dimension.EXPLANATION, "D")
    readme = readme_messages(item, [item.images.low_mag, item.images.mid_mag, item.images.high_mag])
    assert build_prompt(item).messages(_image) == readme
    assert build_prompt(item, prompt_format="seed").messages(_image) == readme


def test_seed_sft_reproduces_a_record_of_the_seed_sft_file() -> None:
    item = make_item(1, Dimension.CONFIRMATION, "D").with_(question=SFT_QUESTION, options=SFT_OPTIONS)
    p = build_prompt(item, prompt_format=PromptFormat.SEED_SFT)
    assert p.text == SFT_USER_TEXT
    assert p.system is None  # the file's records have no system turn
    assert [m["role"] for m in p.messages(_image)] == ["user"]


def test_unknown_format_names_the_choices() -> None:
    with pytest.raises(ValueError, match="seed, labelled, seed_sft"):
        build_prompt(make_item(1, Dimension.DIAGNOSIS), prompt_format="fancy")


@pytest.mark.parametrize("fmt", list(PromptFormat))
def test_every_variant_keeps_images_and_placeholders_consistent(fmt: PromptFormat) -> None:
    items = [make_item(n, Dimension.LOCALIZATION, "ABCD"[n % 4], region=f"r{n}", slide=f"s{n}") for n in range(4)]
    items.append(items[0].with_(id="test-09999", images=ImageRefs("a.jpg", None, "c.jpg")))
    donors = shuffled_donors(items)
    for item in items:
        for variant in Variant:
            prompts = prompts_for(item, variant, donor=donors.get(item.id), prompt_format=fmt)
            assert len(prompts) == (item.n_options if variant is Variant.CIRCULAR else 1)
            for p in prompts:
                assert p.prompt_format is fmt and p.variant is variant
                assert p.text.count(IMAGE_PLACEHOLDER) == len(p.images)
                segments = p.segments()  # interleaving accepts exactly these images, in this order
                assert [s for s in segments if isinstance(s, ImageSlot)] == list(p.images)
                shown = [s.scale for s in p.images]
                assert shown == sorted(shown, key=list(Scale).index)  # low → high
                expect = [s for s, path in (donors[item.id] if variant is Variant.SHUFFLED else item).images
                          if path and s in variant.scales]
                assert shown == expect
                assert (item.question in p.text) is (variant is not Variant.NO_QUESTION)
                assert all(option in p.text for option in item.options)
                assert p.system == FORMATS[fmt].system


@pytest.mark.parametrize("fmt", list(PromptFormat))
def test_blind_is_the_same_text_without_image_parts(fmt: PromptFormat) -> None:
    item = make_item(2, Dimension.DIAGNOSIS, "B")
    standard, blind = build_prompt(item, prompt_format=fmt), prompts_for(item, "blind", prompt_format=fmt)[0]
    assert blind.images == () and IMAGE_PLACEHOLDER not in blind.text
    standard_text = "".join(s for s in standard.segments() if isinstance(s, str))
    if fmt is PromptFormat.SEED:
        assert blind.text == standard_text  # the README's text part, unchanged
    else:  # the image lines (and, in labelled, their labels and intro) go with the images
        assert standard_text.endswith(blind.text.split("\n", 1)[1])
    assert [p["type"] for p in blind.messages(_image)[-1]["content"]] == ["text"]


def test_no_question_keeps_images_and_options_in_every_format() -> None:
    item = make_item(5, Dimension.CORRESPONDENCE, "C")
    seed = prompts_for(item, "no_question")[0]
    assert seed.text == "<image>" * 3 + "\n".join(f"({k}) {v}" for k, v in item.option_map.items())
    labelled = prompts_for(item, "no_question", prompt_format="labelled")[0]
    assert "Question:" not in labelled.text and "Low magnification (1×): <image>" in labelled.text
    sft = prompts_for(item, "no_question", prompt_format="seed_sft")[0]
    assert sft.text.startswith("<image>\n<image>\n<image>\n\nOptions:\nA. ")
    assert Variant.NO_QUESTION.scales == Variant.STANDARD.scales and not Variant.NO_QUESTION.shows_question
