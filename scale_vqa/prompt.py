"""The one way an item becomes model input, and its ablation variants. Pure functions, no model library.

A :class:`Prompt` carries a system prompt, user text with one ``<image>`` placeholder per image, and the image
references in placeholder order. The text comes from a *prompt format* (:mod:`scale_vqa.formats`: ``seed``, the
default and the published rows' format; ``labelled``; ``seed_sft``); a *variant* applies on top of any format:

* ``standard`` — all available scales, low → high;
* ``blind`` — no images at all (the text-only counterpart of a score);
* ``single_low`` / ``single_mid`` / ``single_high`` — one scale;
* ``shuffled`` — the images of another region (see :func:`shuffled_donors`);
* ``circular`` — one prompt per rotation of the options (CircularEval; see :func:`rotate_options`);
* ``no_question`` — all images and the options, without the question (the images + options shortcut).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from types import EllipsisType
from typing import Any

from .dimensions import SCALES, Scale
from .formats import (
    ANSWER_INSTRUCTION,
    DEFAULT_FORMAT,
    SEED_SFT_INSTRUCTION,
    SEED_SYSTEM_PROMPT,
    PromptFormat,
    format_options,
)
from .item import ImageRefs, Item
from .release import IMAGE_PLACEHOLDER
from .variants import Variant

__all__ = ["ANSWER_INSTRUCTION", "DEFAULT_FORMAT", "SEED_SFT_INSTRUCTION", "SEED_SYSTEM_PROMPT", "ImageSlot",
           "Prompt", "PromptFormat", "Variant", "build_prompt", "circular_items", "format_options",
           "interleave_images", "prompts_for", "rotate_options", "rotation_id", "shuffled_donors",
           "split_rotation_id", "text_part"]

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
    prompt_format: PromptFormat = DEFAULT_FORMAT

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


def build_prompt(item: Item, *, scales: Iterable[Scale] = SCALES, images: ImageRefs | None = None,
                 system: str | EllipsisType | None = ..., prompt_format: PromptFormat | str = DEFAULT_FORMAT,
                 variant: Variant = Variant.STANDARD) -> Prompt:
    """The prompt for `item` in `prompt_format`, showing `scales` (low → high) taken from `images` (default: the
    item's own), with the question unless `variant` is ``no_question``.

    `system`: the system prompt (default: the format's own; None: no system turn). A scale whose image is
    missing is dropped together with its placeholder (and, in ``labelled``, its label).
    """
    fmt = PromptFormat.parse(prompt_format)
    variant = Variant(variant)
    refs = item.images if images is None else images
    wanted = set(scales)
    slots = tuple(ImageSlot(s, p) for s, p in refs if s in wanted and p is not None)
    question = item.question if variant.shows_question else None
    text = fmt.spec.render([slot.scale for slot in slots], question, item.options, item.letters)
    return Prompt(item.id, fmt.spec.system if system is ... else system, text, slots, item.letters, item.answer,
                  variant, fmt)


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

    ``shuffled`` needs the `donor` from :func:`shuffled_donors`; `kwargs` go to :func:`build_prompt`
    (``prompt_format``, ``system``).
    """
    variant = Variant(variant)
    if variant is Variant.CIRCULAR:
        return [build_prompt(r, variant=variant, **kwargs) for r in circular_items(item)]
    if variant is Variant.SHUFFLED:
        if donor is None:
            raise ValueError(f"item {item.id}: the shuffled variant needs a donor item")
        return [build_prompt(item, images=donor.images, variant=variant, **kwargs)]
    return [build_prompt(item, scales=variant.scales, variant=variant, **kwargs)]
