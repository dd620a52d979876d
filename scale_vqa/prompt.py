"""The one way an item becomes model input, and its ablation variants. Pure functions, no model library.

A :class:`Prompt` carries a system prompt, user text with one ``<image>`` placeholder per image (each after
a label naming its magnification), and the image references in placeholder order. Variants:

* ``standard`` — all available scales, low → high;
* ``blind`` — no images at all (the text-only counterpart of a score);
* ``single_low`` / ``single_mid`` / ``single_high`` — one scale;
* ``shuffled`` — the images of another region (see :func:`shuffled_donors`);
* ``circular`` — one prompt per rotation of the options (CircularEval; see :func:`rotate_options`).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .dimensions import SCALES, Scale
from .item import ImageRefs, Item
from .release import IMAGE_PLACEHOLDER
from .variants import Variant

SEED_SYSTEM_PROMPT = (
    "You are a pathology expert. Read the question and options about the image carefully. "
    "Think step by step inside <think> </think>. Then output ONLY the SINGLE best option letter "
    "inside <answer> </answer>.\n"
    "Example: <think>Your reasoning</think> <answer>A</answer>. "
    "Do not include the option text or any extra words inside <answer> </answer> tags."
)
"""ScaleReasoner-R1's inference system prompt, verbatim from the seed repository's README
(iMVR-PL/ScaleReasoner-R1, section "Inference")."""

ANSWER_INSTRUCTION = (
    "Think step by step inside <think> </think>, then give only the letter of the single best option "
    "inside <answer> </answer>."
)
ROTATION_SEP = "/rot"


def text_part(text: str) -> dict[str, Any]:
    """An OpenAI-style text content part."""
    return {"type": "text", "text": text}


def interleave_images(text: str, images: Sequence[Any], make_text: Callable[[str], Any] = text_part) -> list[Any]:
    """`text` split at its ``<image>`` placeholders with the i-th of `images` at the i-th placeholder, in reading
    order; text pieces become ``make_text(piece)`` (OpenAI text parts by default; empty pieces are dropped).

    The one implementation of placeholder interleaving (prompts, the evaluator's API clients). Raises ValueError
    when the number of placeholders differs from the number of images: a dropped or misplaced image would
    silently change what the model is asked."""
    pieces = text.split(IMAGE_PLACEHOLDER)
    if len(pieces) - 1 != len(images):
        raise ValueError(f"the prompt has {len(pieces) - 1} {IMAGE_PLACEHOLDER} placeholders but {len(images)} "
                         "images were given")
    out: list[Any] = []
    for i, piece in enumerate(pieces):
        if piece:
            out.append(make_text(piece))
        if i < len(images):
            out.append(images[i])
    return out


@dataclass(frozen=True)
class ImageSlot:
    """One image in a prompt: its scale label and its relative path."""

    scale: Scale
    path: str


@dataclass(frozen=True)
class Prompt:
    """Model input for one item. `text` holds one ``<image>`` per entry of `images`, in the same order."""

    item_id: str
    system: str | None
    text: str
    images: tuple[ImageSlot, ...]
    letters: str
    answer: str
    """Gold letter as shown in this prompt (differs from the item's after an option rotation)."""
    variant: Variant = Variant.STANDARD

    def segments(self) -> list[str | ImageSlot]:
        """Text pieces and images interleaved in reading order (empty text pieces dropped)."""
        return interleave_images(self.text, self.images, str)

    def messages(self, image_part: Callable[[ImageSlot], dict[str, Any]]) -> list[dict[str, Any]]:
        """OpenAI-style chat messages; `image_part` turns an :class:`ImageSlot` into a content part."""
        content: list[dict[str, Any]] = [
            {"type": "text", "text": seg} if isinstance(seg, str) else image_part(seg) for seg in self.segments()
        ]
        messages: list[dict[str, Any]] = []
        if self.system:
            messages.append({"role": "system", "content": self.system})
        messages.append({"role": "user", "content": content})
        return messages


def format_options(options: Sequence[str], letters: str) -> str:
    """Lettered option lines, ``(A) text``, as in the seed's inference example."""
    return "\n".join(f"({letter}) {text}" for letter, text in zip(letters, options, strict=True))


def build_prompt(item: Item, *, scales: Iterable[Scale] = SCALES, images: ImageRefs | None = None,
                 system: str | None = SEED_SYSTEM_PROMPT, instruction: str = ANSWER_INSTRUCTION,
                 variant: Variant = Variant.STANDARD) -> Prompt:
    """The prompt for `item`, showing `scales` (low → high) taken from `images` (default: the item's own).

    A scale whose image is missing is dropped together with its label and placeholder.
    """
    refs = item.images if images is None else images
    wanted = set(scales)
    slots = tuple(ImageSlot(s, p) for s, p in refs if s in wanted and p is not None)
    lines: list[str] = []
    if slots:
        n = len(slots)
        lines.append(f"You are shown one region of a pathology slide at {n} magnification{'s' * (n > 1)}.")
        lines.extend(f"{slot.scale.label}: {IMAGE_PLACEHOLDER}" for slot in slots)
        lines.append("")
    lines += [f"Question: {item.question.strip()}", "Options:", format_options(item.options, item.letters)]
    if instruction:
        lines += ["", instruction]
    return Prompt(item.id, system, "\n".join(lines), slots, item.letters, item.answer, variant)


def rotation_id(item_id: str, k: int) -> str:
    """Id of rotation `k` of an item (rotation 0 keeps the item's own id)."""
    return item_id if k == 0 else f"{item_id}{ROTATION_SEP}{k}"


def split_rotation_id(rotated_id: str) -> tuple[str, int]:
    """Inverse of :func:`rotation_id`."""
    base, sep, k = rotated_id.rpartition(ROTATION_SEP)
    if sep and k.isdigit():
        return base, int(k)
    return rotated_id, 0


def rotate_options(item: Item, k: int) -> Item:
    """The item with its options rotated by `k`: option shown as A is the original option at position k.

    The gold letter moves with its text; the id becomes :func:`rotation_id`.
    """
    n = item.n_options
    k %= n
    options = item.options[k:] + item.options[:k]
    gold = (item.letters.index(item.answer) - k) % n
    return item.with_(id=rotation_id(item.id, k), options=options, answer=item.letters[gold])


def circular_items(item: Item) -> list[Item]:
    """All option rotations of an item, rotation 0 first (CircularEval)."""
    return [rotate_options(item, k) for k in range(item.n_options)]


def shuffled_donors(items: Sequence[Item], seed: int = 0) -> dict[str, Item]:
    """For each item, an item of a *different region* whose images replace its own (the shuffled variant).

    Deterministic for a seed. Regions are cycled so no item keeps its own images; when there are enough
    slides, every donor also comes from another slide. Items without any image get no donor.
    """
    regions: dict[str, Item] = {}
    for item in items:
        if item.images.present():
            regions.setdefault(item.region, item)
    if len(regions) < 2:
        raise ValueError("the shuffled variant needs images of at least two different regions")
    rng = random.Random(seed)
    by_slide: dict[str, list[str]] = {}
    for key, rep in sorted(regions.items()):
        by_slide.setdefault(rep.wsi_name or key, []).append(key)
    slides = sorted(by_slide)
    rng.shuffle(slides)
    order: list[str] = []
    for slide in slides:
        keys = by_slide[slide]
        rng.shuffle(keys)
        order.extend(keys)
    n, largest = len(order), max(len(v) for v in by_slide.values())
    shift = largest if 2 * largest <= n else 1  # a shift >= the largest slide block leaves every slide
    target = {key: regions[order[(i + shift) % n]] for i, key in enumerate(order)}
    return {item.id: target[item.region] for item in items if item.region in target}


def prompts_for(item: Item, variant: Variant | str, *, donor: Item | None = None,
                **kwargs: Any) -> list[Prompt]:
    """The prompt(s) of one item under a variant: one prompt, or one per rotation for ``circular``.

    ``shuffled`` needs the `donor` from :func:`shuffled_donors`.
    """
    variant = Variant(variant)
    if variant is Variant.CIRCULAR:
        return [build_prompt(r, variant=variant, **kwargs) for r in circular_items(item)]
    if variant is Variant.SHUFFLED:
        if donor is None:
            raise ValueError(f"item {item.id}: the shuffled variant needs a donor item")
        return [build_prompt(item, images=donor.images, variant=variant, **kwargs)]
    return [build_prompt(item, scales=variant.scales, variant=variant, **kwargs)]
