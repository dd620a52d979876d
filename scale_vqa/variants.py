"""Ablation variants of a prompt, the evaluator groups that run them, and their labels: one home for all three.

A *variant* says which images an item's prompt shows, and whether it shows the question (:class:`Variant`); it
applies on top of any prompt format (:mod:`scale_vqa.formats`). The evaluator runs each variant as an
lm-eval *group* named ``scale_vqa`` + ``_`` + its *suffix* (``scale_vqa_blind`` …); the hard subset is a group of
its own that shows every image. Tables, reports and the leaderboard label a group with :data:`LABELS`.
"""

from __future__ import annotations

from enum import StrEnum

from .dimensions import SCALES, Scale

PREFIX = "scale_vqa"
"""Name of the main group; every other group is ``PREFIX_<suffix>``."""


class Variant(StrEnum):
    """Which images a prompt shows (and, for ``circular``, one prompt per option rotation; for ``no_question``,
    the images and options without the question)."""

    STANDARD = "standard"
    BLIND = "blind"
    SINGLE_LOW = "single_low"
    SINGLE_MID = "single_mid"
    SINGLE_HIGH = "single_high"
    SHUFFLED = "shuffled"
    CIRCULAR = "circular"
    NO_QUESTION = "no_question"

    @property
    def scales(self) -> tuple[Scale, ...]:
        """Scales whose images the variant shows."""
        if self is Variant.BLIND:
            return ()
        if self.value.startswith("single_"):
            return (Scale.parse(self.value.removeprefix("single_")),)
        return SCALES

    @property
    def shows_question(self) -> bool:
        """False only for ``no_question`` (it measures the images + options shortcut)."""
        return self is not Variant.NO_QUESTION

    @property
    def description(self) -> str:
        """What the model is shown, in words (the leaderboard's submission form uses these)."""
        return DESCRIPTIONS[self]


DESCRIPTIONS: dict[Variant, str] = {
    Variant.STANDARD: "all three images", Variant.BLIND: "no images (text only)",
    Variant.SINGLE_LOW: "the 1× image only", Variant.SINGLE_MID: "the 4× image only",
    Variant.SINGLE_HIGH: "the 20× image only", Variant.SHUFFLED: "another region's images",
    Variant.CIRCULAR: "all three images, every option rotation",
    Variant.NO_QUESTION: "all three images and the options, no question",
}

GROUPS: dict[str, Variant] = {
    "": Variant.STANDARD, "circular": Variant.CIRCULAR, "blind": Variant.BLIND, "single_low": Variant.SINGLE_LOW,
    "single_mid": Variant.SINGLE_MID, "single_high": Variant.SINGLE_HIGH, "shuffled": Variant.SHUFFLED,
    "no_question": Variant.NO_QUESTION, "hard": Variant.STANDARD,
    "matched": Variant.STANDARD, "matched_blind": Variant.BLIND,
}
"""Evaluator group suffix → the prompt variant it runs, in report order (``hard``: the audit's hard subset;
``matched*``: the ``matched`` config made by ``scale-vqa curate``)."""

LABELS: dict[str, str] = {
    "": "all scales", "blind": "blind: no images", "single_low": "1× only", "single_mid": "4× only",
    "single_high": "20× only", "shuffled": "shuffled images", "circular": "CircularEval", "no_question": "no question",
    "hard": "hard subset", "matched": "matched (curated)", "matched_blind": "matched, blind",
}
"""Evaluator group suffix → its label in tables and reports."""


def group_name(suffix: str) -> str:
    """``""`` → ``scale_vqa``; ``blind`` → ``scale_vqa_blind``."""
    return f"{PREFIX}_{suffix}" if suffix else PREFIX


def group_suffix(group: str) -> str:
    """``scale_vqa_blind`` → ``blind``; ``scale_vqa`` → ``""``. Names without the prefix come back unchanged."""
    if group == PREFIX:
        return ""
    return group.removeprefix(f"{PREFIX}_") if group.startswith(f"{PREFIX}_") else group


def group_label(group: str) -> str:
    """The label of an evaluator group (``scale_vqa_single_high`` → ``20× only``); unknown groups keep their
    suffix."""
    suffix = group_suffix(group)
    return LABELS.get(suffix, suffix)


def group_order(group: str) -> int:
    """Sort key of a group: the order of :data:`GROUPS` (unknown names last)."""
    names = [group_name(s) for s in GROUPS]
    return names.index(group) if group in names else len(names)
