"""Prompt building and its ablation variants."""

from __future__ import annotations

import pytest

from scale_vqa.dimensions import Dimension, Scale
from scale_vqa.item import ImageRefs
from scale_vqa.prompt import (
    SEED_SYSTEM_PROMPT,
    ImageSlot,
    PromptFormat,
    Variant,
    build_prompt,
    circular_items,
    interleave_images,
    prompts_for,
    rotate_options,
    rotation_id,
    shuffled_donors,
    split_rotation_id,
)
from scale_vqa.release import IMAGE_PLACEHOLDER, load_items
from tests.helpers.items import make_item


def test_default_prompt_is_the_seed_format_images_first() -> None:
    item = make_item(3, Dimension.LOCALIZATION, "C")
    p = build_prompt(item)
    assert p.prompt_format is PromptFormat.SEED and p.system == SEED_SYSTEM_PROMPT
    assert [s.scale for s in p.images] == [Scale.LOW, Scale.MID, Scale.HIGH]
    assert p.text == "<image>" * 3 + item.question + "\n" + "\n".join(f"({k}) {v}" for k, v in item.option_map.items())
    assert "magnification" not in p.text and "<answer>" not in p.text


def test_labelled_prompt_labels_images_in_order() -> None:
    item = make_item(3, Dimension.LOCALIZATION, "C")
    p = build_prompt(item, prompt_format="labelled")
    assert p.system == SEED_SYSTEM_PROMPT
    assert p.text.count(IMAGE_PLACEHOLDER) == 3
    assert [s.scale for s in p.images] == [Scale.LOW, Scale.MID, Scale.HIGH]
    assert [s.path for s in p.images] == [item.images.low_mag, item.images.mid_mag, item.images.high_mag]
    low, mid, high = (p.text.index(s.label) for s in (Scale.LOW, Scale.MID, Scale.HIGH))
    assert low < mid < high < p.text.index("Question:")
    assert "Low magnification (1×): <image>" in p.text and "High magnification (20×): <image>" in p.text
    for letter, text in item.option_map.items():
        assert f"({letter}) {text}" in p.text
    assert p.text.index("(A)") < p.text.index("(D)") < p.text.index("<answer>")
    assert p.answer == "C" and p.letters == "ABCD"


def test_segments_and_messages_interleave_images_at_their_labels() -> None:
    p = build_prompt(make_item(1, Dimension.DIAGNOSIS), prompt_format="labelled")
    segs = p.segments()
    kinds = ["img" if isinstance(s, ImageSlot) else "txt" for s in segs]
    assert kinds == ["txt", "img", "txt", "img", "txt", "img", "txt"]
    assert segs[0].endswith("Low magnification (1×): ") and isinstance(segs[1], ImageSlot)
    assert "".join(s if isinstance(s, str) else IMAGE_PLACEHOLDER for s in segs) == p.text
    msgs = p.messages(lambda slot: {"type": "image_url", "image_url": {"url": slot.path}})
    assert msgs[0] == {"role": "system", "content": SEED_SYSTEM_PROMPT}
    parts = msgs[1]["content"]
    assert [part["type"] for part in parts] == ["text", "image_url"] * 3 + ["text"]
    assert parts[1]["image_url"]["url"] == p.images[0].path
    no_system = build_prompt(make_item(1, Dimension.DIAGNOSIS), system=None).messages(lambda s: {})
    assert [m["role"] for m in no_system] == ["user"]
    seed = build_prompt(make_item(1, Dimension.DIAGNOSIS)).messages(lambda slot: {"type": "image"})
    assert [part["type"] for part in seed[1]["content"]] == ["image", "image", "image", "text"]


def test_missing_image_drops_label_and_placeholder() -> None:
    item = make_item(1, Dimension.DIAGNOSIS).with_(images=ImageRefs("a.jpg", "b.jpg", None))
    p = build_prompt(item, prompt_format="labelled")
    assert p.text.count(IMAGE_PLACEHOLDER) == len(p.images) == 2
    assert "High magnification" not in p.text
    assert "2 magnifications" in p.text
    seed = build_prompt(item)
    assert [s.path for s in seed.images] == ["a.jpg", "b.jpg"] and seed.text.startswith("<image><image>Question")


@pytest.mark.parametrize(("variant", "scales"), [
    (Variant.BLIND, []), (Variant.SINGLE_LOW, [Scale.LOW]), (Variant.SINGLE_MID, [Scale.MID]),
    (Variant.SINGLE_HIGH, [Scale.HIGH]), (Variant.STANDARD, [Scale.LOW, Scale.MID, Scale.HIGH]),
])
def test_scale_variants(variant: Variant, scales: list[Scale]) -> None:
    item = make_item(2, Dimension.CONFIRMATION)
    (p,) = prompts_for(item, variant)
    assert [s.scale for s in p.images] == scales
    assert p.text.count(IMAGE_PLACEHOLDER) == len(scales)
    assert item.question in p.text and item.options[0] in p.text
    assert p.variant is variant
    if not scales:
        assert "magnification" not in p.text


def test_single_scale_of_a_missing_view_has_no_image() -> None:
    item = make_item(1, Dimension.DIAGNOSIS).with_(images=ImageRefs("a.jpg", "b.jpg", None))
    (p,) = prompts_for(item, "single_high")
    assert p.images == () and IMAGE_PLACEHOLDER not in p.text


def test_rotate_options_moves_gold_with_its_text() -> None:
    item = make_item(5, Dimension.EXPLANATION, "B")
    for k in range(4):
        rot = rotate_options(item, k)
        assert rot.gold_text == item.gold_text
        assert sorted(rot.options) == sorted(item.options)
        assert rot.options[0] == item.options[k]
        assert rot.id == rotation_id(item.id, k)
        assert split_rotation_id(rot.id) == (item.id, k)
    assert rotate_options(item, 0) == item
    rots = circular_items(item)
    assert len({r.answer for r in rots}) == 4  # gold visits every position once
    prompts = prompts_for(item, "circular")
    assert [p.answer for p in prompts] == [r.answer for r in rots]
    assert all(p.variant is Variant.CIRCULAR for p in prompts)


def test_circular_handles_other_option_counts() -> None:
    item = make_item(1, Dimension.DIAGNOSIS, "E", n_options=5)
    assert sorted(r.answer for r in circular_items(item)) == list("ABCDE")
    assert split_rotation_id("val-00001") == ("val-00001", 0)


def test_shuffled_donors_never_use_own_region_and_prefer_other_slides() -> None:
    items = [make_item(n, Dimension.DIAGNOSIS, region=f"r{n // 5}", slide=f"s{n // 10}") for n in range(60)]
    donors = shuffled_donors(items, seed=1)
    assert set(donors) == {i.id for i in items}
    for item in items:
        donor = donors[item.id]
        assert donor.region != item.region
        assert donor.wsi_name != item.wsi_name
    # all items of one region get the same donor images
    by_region: dict[str, set[str]] = {}
    for item in items:
        by_region.setdefault(item.region, set()).add(donors[item.id].region)
    assert all(len(v) == 1 for v in by_region.values())
    assert shuffled_donors(items, seed=1) == donors
    assert shuffled_donors(items, seed=2) != donors
    (p,) = prompts_for(items[0], "shuffled", donor=donors[items[0].id])
    assert [s.path for s in p.images] == [path for _, path in donors[items[0].id].images if path]


def test_shuffled_needs_two_regions_and_a_donor() -> None:
    items = [make_item(n, Dimension.DIAGNOSIS, region="same") for n in range(3)]
    with pytest.raises(ValueError, match="two different regions"):
        shuffled_donors(items)
    with pytest.raises(ValueError, match="donor"):
        prompts_for(items[0], "shuffled")


def test_prompts_for_every_real_validation_item(val_path) -> None:
    items = load_items(val_path)
    donors = shuffled_donors(items)
    for item in items:
        for variant in Variant:
            for fmt in PromptFormat:
                for p in prompts_for(item, variant, donor=donors[item.id], prompt_format=fmt):
                    assert p.text.count(IMAGE_PLACEHOLDER) == len(p.images)
                    assert all(s.path for s in p.images)
        assert donors[item.id].wsi_name != item.wsi_name
    with_missing = [i for i in items if i.images.high_mag is None]
    assert with_missing and all(len(build_prompt(i).images) == 2 for i in with_missing)


def test_interleave_images_puts_each_image_at_its_placeholder() -> None:
    imgs = [{"type": "image_url", "k": k} for k in range(3)]
    out = interleave_images("<image>a <image><image> b", imgs)
    assert out == [imgs[0], {"type": "text", "text": "a "}, imgs[1], imgs[2], {"type": "text", "text": " b"}]
    assert interleave_images("x<image>y", ["I"], str) == ["x", "I", "y"]
    assert interleave_images("no images", []) == [{"type": "text", "text": "no images"}]
    with pytest.raises(ValueError, match="2 <image> placeholders but 1 images"):
        interleave_images("<image><image>", imgs[:1])
    with pytest.raises(ValueError, match="0 <image> placeholders but 1 images"):
        interleave_images("text", imgs[:1])
