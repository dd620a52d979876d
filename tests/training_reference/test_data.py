"""Data preparation: built dataset → TRL prompts (core prompt, images interleaved in order), prompt lengths,
over-long / image-less drops and the refusal of a dataset without images."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from datasets import load_dataset
from PIL import Image

from builders.dataset.export import build_dataset
from scale_vqa.prompt import SEED_SYSTEM_PROMPT, build_prompt
from tests.helpers.tiny_vlm import IMAGE_SIZES, write_release
from tests.training_reference.conftest import CONFIGS
from training_reference.data import DataError, PromptLength, prepare


def built(root: Path, *, drop: tuple[str, ...] = (), drop_all: bool = False) -> Path:
    """A built train split of 10 items whose image files matching `drop` (or all) are deleted first."""
    release = root / "release"
    write_release(release, 2, split="train")
    if drop_all:
        shutil.rmtree(release / "images")
        (release / "images").mkdir()
    for pattern in drop:
        for path in (release / "images").rglob(pattern):
            path.unlink()
    out = root / "built"
    build_dataset(release, out, images=release / "images", allow_missing_images=True, progress=False)
    return out


def split(folder: Path, tmp: Path):
    return load_dataset(str(folder), split="train", cache_dir=str(tmp / "cache"))


def test_prompts_are_the_seed_format_with_images_in_core_order(assets: dict, processor, tmp_path: Path) -> None:
    ds, stats = prepare(split(assets["data"], tmp_path), processor)
    assert stats.kept == stats.n_rows == 10 and stats.dropped_too_long == stats.dropped_no_images == 0
    assert stats.prompt_format == "seed" and "(seed format)" in stats.summary()
    for row in ds:
        item = assets["items"][row["id"]]
        system, user = row["prompt"]
        assert system["role"] == "system" and system["content"][0]["text"] == SEED_SYSTEM_PROMPT
        text = "".join("<image>" if p["type"] == "image" else p["text"] for p in user["content"])
        core = build_prompt(item)
        assert text == core.text  # the core prompt, images where its placeholders are
        # the seed README's structure: the three images, then the question and lettered options
        assert [p["type"] for p in user["content"]] == ["image", "image", "image", "text"]
        assert user["content"][3]["text"].startswith(item.question + "\n(A) ")
        assert [im.size for im in row["images"]] == list(IMAGE_SIZES.values())  # low, mid, high
        assert row["gold"] == item.answer and row["letters"] == "ABCD" and row["rationale"] == item.rationale
        assert row["dimension"] == item.dimension.value


@pytest.mark.parametrize("fmt", ["labelled", "seed_sft"])
def test_other_prompt_formats_on_request(fmt: str, assets: dict, processor, tmp_path: Path) -> None:
    ds, stats = prepare(split(assets["data"], tmp_path), processor, kind="sft", limit=2, prompt_format=fmt)
    assert stats.prompt_format == fmt
    for row in ds:
        item = assets["items"][row["id"]]
        user = row["prompt"][-1]
        text = "".join("<image>" if p["type"] == "image" else p["text"] for p in user["content"])
        assert text == build_prompt(item, prompt_format=fmt).text
        assert [m["role"] for m in row["prompt"]] == (["user"] if fmt == "seed_sft" else ["system", "user"])
        assert [im.size for im in row["images"]] == list(IMAGE_SIZES.values())
    with pytest.raises(DataError, match=r"data\.prompt_format: unknown prompt format 'x'"):
        prepare(split(assets["data"], tmp_path), processor, limit=1, prompt_format="x")


def test_image_bytes_pass_through_untouched(assets: dict, processor, tmp_path: Path) -> None:
    from datasets import Image as ImageFeature
    from datasets import List

    ds, _ = prepare(split(assets["data"], tmp_path), processor)
    raw = ds.cast_column("images", List(ImageFeature(decode=False)))
    release = Path(assets["data"]).parent / "release" / "images"
    item = assets["items"][raw[0]["id"]]
    assert [im["bytes"] for im in raw[0]["images"]] == [(release / rel).read_bytes() for _, rel in item.images]
    assert Image.open(io.BytesIO(raw[0]["images"][0]["bytes"])).format == "JPEG"


def test_fast_prompt_length_equals_the_processor(assets: dict, processor, tmp_path: Path) -> None:
    ds, stats = prepare(split(assets["data"], tmp_path), processor)
    length = PromptLength(processor)
    for row in ds.select(range(3)):
        assert row["prompt_tokens"] == length.exact(row["prompt"], row["images"])
    assert stats.longest_kept == max(ds["prompt_tokens"])


def test_over_long_prompts_are_dropped_and_counted(assets: dict, processor, tmp_path: Path) -> None:
    folder = built(tmp_path, drop=("*high_mag*",))  # fewer image tokens: shorter prompts, still 2 images
    full, _ = prepare(split(assets["data"], tmp_path), processor)
    short, _ = prepare(split(folder, tmp_path), processor)
    limit = max(short["prompt_tokens"])
    assert min(full["prompt_tokens"]) > limit
    ds = split(assets["data"], tmp_path)
    with pytest.raises(DataError, match=r"no usable prompt left .*dropped 10 over"):
        prepare(ds, processor, max_prompt_tokens=limit)
    ordered = sorted(full["prompt_tokens"])
    threshold = ordered[4]
    kept, stats = prepare(ds, processor, max_prompt_tokens=threshold)
    expected = sum(n > threshold for n in full["prompt_tokens"])
    assert stats.dropped_too_long == expected and stats.kept == 10 - expected == kept.num_rows
    assert stats.longest_seen == ordered[-1] and stats.longest_kept <= threshold
    assert f"dropped {expected} over {threshold} tokens" in stats.summary()


def test_missing_scale_is_left_out_with_its_label(processor, tmp_path: Path) -> None:
    data = split(built(tmp_path, drop=("r0_high_mag*",)), tmp_path)
    ds, _ = prepare(data, processor)
    two = [row for row in ds if len(row["images"]) == 2]
    assert two and all([im.size for im in row["images"]] == [IMAGE_SIZES["low_mag"], IMAGE_SIZES["mid_mag"]]
                       and [p["type"] for p in row["prompt"][-1]["content"]] == ["image", "image", "text"]
                       for row in two)
    labelled, _ = prepare(data, processor, prompt_format="labelled")
    two = [row for row in labelled if len(row["images"]) == 2]
    assert two and all("High magnification" not in str(row["prompt"]) for row in two)
    assert all("Mid magnification (4×)" in str(row["prompt"]) for row in two)


def test_dataset_without_images_is_refused_unless_allowed(processor, tmp_path: Path) -> None:
    ds = split(built(tmp_path, drop_all=True), tmp_path)
    with pytest.raises(DataError, match=r"has no images .*data\.allow_no_images=true"):
        prepare(ds, processor, source="blind-build")
    kept, stats = prepare(ds, processor, allow_no_images=True)
    assert stats.kept == 10 and all(row["images"] == [] for row in kept)
    assert all("<image>" not in str(row["prompt"]) and "magnification" not in str(row["prompt"]) for row in kept)


def test_rows_without_any_image_are_dropped_and_counted(processor, tmp_path: Path) -> None:
    ds, stats = prepare(split(built(tmp_path, drop=("r0_*",)), tmp_path), processor)
    assert stats.dropped_no_images == 2 and stats.kept == 8 == ds.num_rows


def test_sft_examples_target_the_rationale(assets: dict, processor, tmp_path: Path) -> None:
    ds, stats = prepare(split(assets["data"], tmp_path), processor, kind="sft")
    row = ds[0]
    item = assets["items"][row["id"]]
    assert row["completion"] == [{"role": "assistant", "content": [
        {"type": "text", "text": f"<think>{item.rationale}</think>\n<answer>{item.answer}</answer>"}]}]
    assert stats.kept == 10


def test_not_a_built_dataset(processor) -> None:
    from datasets import Dataset

    with pytest.raises(DataError, match="missing column"):
        prepare(Dataset.from_dict({"id": ["a"]}), processor)


def test_model_pixel_bounds_reach_the_processor_and_the_counts(assets: dict, processor, tmp_path: Path) -> None:
    from training_reference.common import load_processor
    from training_reference.config import ModelConfig

    small = load_processor(ModelConfig(path=str(assets["model"]), max_pixels=56 * 56))
    assert small.image_processor.size.longest_edge == 56 * 56
    assert small.image_processor.size.shortest_edge == processor.image_processor.size.shortest_edge
    ds = split(assets["data"], tmp_path)
    full, _ = prepare(ds, processor, limit=1)
    bounded, _ = prepare(ds, small, limit=1)
    assert bounded[0]["prompt_tokens"] == full[0]["prompt_tokens"] - 12  # mid, high (112×56): 8 → 2 image tokens
    assert bounded[0]["prompt_tokens"] == PromptLength(small).exact(bounded[0]["prompt"], bounded[0]["images"])


def test_cli_prepare_only_reports_the_counts(assets: dict, capsys: pytest.CaptureFixture[str]) -> None:
    from scale_vqa.cli import main

    config = CONFIGS / "seed_parity.yaml"
    assert main(["train", "grpo", "--config", str(config), "--prepare-only", f"model.path={assets['model']}",
                 f"data.source={assets['data']}"]) == 0
    assert "kept 10/10 prompts; dropped 0 over 5120 tokens" in capsys.readouterr().out
    assert main(["train", "sft", "--config", str(config), "--prepare-only", f"model.path={assets['model']}",
                 f"data.source={assets['data']}", "data.max_prompt_tokens=300"]) == 0
    assert "(seed format): kept 10/10" in capsys.readouterr().out  # the seed format is shorter than labelled
    assert main(["train", "sft", "--config", str(config), "--prepare-only", f"model.path={assets['model']}",
                 f"data.source={assets['data']}", "data.max_prompt_tokens=300", "data.prompt_format=labelled"]) == 1
    assert "no usable prompt left" in capsys.readouterr().err
