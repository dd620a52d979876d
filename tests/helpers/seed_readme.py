"""The seed README's inference prompt, built by hand (independently of :mod:`scale_vqa.formats`), to check that
the ``seed`` format reproduces it: the message structure, and its token ids through a Qwen2.5-VL processor."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from scale_vqa.item import Item

README_SYSTEM_PROMPT = (
    "You are a pathology expert. Read the question and options about the image carefully. "
    "Think step by step inside <think> </think>. Then output ONLY the SINGLE best option letter "
    "inside <answer> </answer>.\n"
    "Example: <think>Your reasoning</think> <answer>A</answer>. "
    "Do not include the option text or any extra words inside <answer> </answer> tags."
)
"""SYSTEM_PROMPT of the seed README's "Inference" section (iMVR-PL/ScaleReasoner-R1), copied by hand."""


def readme_messages(item: Item, images: list[Any]) -> list[dict[str, Any]]:
    """The README's ``messages``: the system prompt, then one user turn of the three images (low → mid → high)
    and the text ``"<question>\\n(A) ...\\n(B) ...\\n(C) ...\\n(D) ..."``."""
    text = item.question + "".join(f"\n({letter}) {option}" for letter, option in zip(item.letters, item.options,
                                                                                      strict=True))
    return [{"role": "system", "content": README_SYSTEM_PROMPT},
            {"role": "user", "content": [*({"type": "image", "image": im} for im in images),
                                         {"type": "text", "text": text}]}]


@functools.cache
def _processor(model_dir: str) -> Any:
    from evaluator.vlm_compat import load_processor

    return load_processor(model_dir)


def token_ids(model_dir: str | Path, messages: list[dict[str, Any]], images: list[Any]) -> list[int]:
    """Token ids of `messages` (chat template + generation prompt, images expanded) through the processor."""
    processor = _processor(str(model_dir))
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    return processor(text=[text], images=images or None, return_tensors="pt")["input_ids"][0].tolist()


def release_images(release: Path, item: Item) -> list[Any]:
    """The item's images (low → high) from a release written by :func:`tests.helpers.tiny_vlm.write_release`."""
    from PIL import Image

    return [Image.open(release.parent / "images" / path).convert("RGB") for _, path in item.images if path]


def readme_token_ids(model_dir: str | Path, release: Path, item: Item) -> list[int]:
    """Token ids of the README's prompt for `item` with its release images."""
    images = release_images(release, item)
    return token_ids(model_dir, readme_messages(item, images), images)
