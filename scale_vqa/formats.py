"""Prompt formats: how one item's question, options and images are written as the user turn. Pure functions.

Each format renders the user text with one ``<image>`` placeholder per image shown, in the order given (low →
high), and names its default system prompt:

* ``seed`` — the seed repository's inference format (iMVR-PL/ScaleReasoner-R1, README "Inference", both the
  vLLM and the transformers examples), the one the published rows were scored with: the images first with
  nothing between them, then ``"{question}\\n(A) …\\n(B) …"``; system prompt :data:`SEED_SYSTEM_PROMPT`.
  **The default.**
* ``labelled`` — Scale-VQA's earlier format: an intro sentence, each image after a label naming its
  magnification, ``Question:`` / ``Options:`` headers and an answer instruction; the same system prompt.
* ``seed_sft`` — the seed's SFT data format (``LLaMA-Factory/data/scale_reasoner_sft_val.json``):
  ``"<image>\\n<image>\\n<image>\\n\\n{question}\\n\\nOptions:\\nA. …\\nB. …\\n\\n{instruction}"``, the instruction
  asking for a ``<description>`` block before ``<think>``; no system turn (the chat template's default
  applies), as in that file.

A *variant* (:mod:`scale_vqa.variants`) chooses which images are shown and whether the question is; every
format renders any of them (no image: the same text without placeholders).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from .dimensions import Scale
from .release import IMAGE_PLACEHOLDER

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
"""The answer instruction closing a ``labelled`` prompt."""

SEED_SFT_INSTRUCTION = (
    "You are a pathology expert. You are tasked with analyzing pathology images to generate a detailed "
    "description to help you answer the question. First analyze the images and produce a self-contained "
    "description—detailed enough that can lead to the correct answer. Wrap the entire description in "
    "<description> </description> tags.\\n\n"
    "Next, engage in an internal dialogue and include self-reflection or verification in your reasoning "
    "process. Provide your detailed, step-by-step reasoning based on the image description information and the "
    "images, and enclose this part within <think> </think> tags.\\n\n"
    "Finally, provide ONLY the single best option letter inside <answer> </answer>. The output format should "
    "be: <description> image description here </description> <think> reasoning process here </think> "
    "<answer>FINAL ANSWER here</answer>."
)
"""The instruction closing every user turn of the seed's SFT file, verbatim. It contains two literal
backslash-n pairs (``\\n`` as two characters, each followed by a real line break): they are in the file, so the
SFT-trained model saw them."""


class PromptFormat(StrEnum):
    """A named prompt format (see the module docstring)."""

    SEED = "seed"
    LABELLED = "labelled"
    SEED_SFT = "seed_sft"

    @property
    def spec(self) -> FormatSpec:
        return FORMATS[self]

    @classmethod
    def parse(cls, value: str | PromptFormat) -> PromptFormat:
        """A format by name; ValueError naming the choices otherwise."""
        try:
            return cls(value)
        except ValueError:
            raise ValueError(f"unknown prompt format {value!r}: choose one of "
                             f"{', '.join(f.value for f in cls)}") from None


DEFAULT_FORMAT = PromptFormat.SEED
"""The format of every score compared with published numbers (``scale-vqa eval``, ``baselines run``, GRPO)."""

Render = Callable[[Sequence[Scale], str | None, Sequence[str], str], str]
"""(scales of the images shown, in order; question or None; option texts; letters) → user text."""


def format_options(options: Sequence[str], letters: str) -> str:
    """Lettered option lines, ``(A) text``, as in the seed's inference example."""
    return "\n".join(f"({letter}) {text}" for letter, text in zip(letters, options, strict=True))


def seed_text(scales: Sequence[Scale], question: str | None, options: Sequence[str], letters: str) -> str:
    """``<image>`` per image with nothing between, then ``{question}\\n(A) …\\n(B) …``."""
    lines = [] if question is None else [question.strip()]
    lines.append(format_options(options, letters))
    return IMAGE_PLACEHOLDER * len(scales) + "\n".join(lines)


def labelled_text(scales: Sequence[Scale], question: str | None, options: Sequence[str], letters: str) -> str:
    """Intro sentence, ``Low magnification (1×): <image>`` … lines, ``Question:``, ``Options:``, instruction."""
    lines: list[str] = []
    if scales:
        n = len(scales)
        lines.append(f"You are shown one region of a pathology slide at {n} magnification{'s' * (n > 1)}.")
        lines.extend(f"{scale.label}: {IMAGE_PLACEHOLDER}" for scale in scales)
        lines.append("")
    if question is not None:
        lines.append(f"Question: {question.strip()}")
    lines += ["Options:", format_options(options, letters), "", ANSWER_INSTRUCTION]
    return "\n".join(lines)


def seed_sft_text(scales: Sequence[Scale], question: str | None, options: Sequence[str], letters: str) -> str:
    """``<image>`` lines, a blank line, question, ``Options:`` with ``A. text`` lines, :data:`SEED_SFT_INSTRUCTION`."""
    blocks = ["\n".join(IMAGE_PLACEHOLDER for _ in scales)] if scales else []
    if question is not None:
        blocks.append(question.strip())
    blocks.append("Options:\n" + "\n".join(f"{letter}. {text}" for letter, text in zip(letters, options,
                                                                                         strict=True)))
    blocks.append(SEED_SFT_INSTRUCTION)
    return "\n\n".join(blocks)


@dataclass(frozen=True)
class FormatSpec:
    """A format's renderer, default system prompt (None: no system turn) and one-line description."""

    render: Render
    system: str | None
    description: str


FORMATS: dict[PromptFormat, FormatSpec] = {
    PromptFormat.SEED: FormatSpec(seed_text, SEED_SYSTEM_PROMPT,
                                  "the seed's inference format (images first, no labels): the published rows'"),
    PromptFormat.LABELLED: FormatSpec(labelled_text, SEED_SYSTEM_PROMPT,
                                      "magnification labels before each image, Question/Options headers, an "
                                      "answer instruction"),
    PromptFormat.SEED_SFT: FormatSpec(seed_sft_text, None,
                                      "the seed's SFT data format (<description> before <think>), no system turn"),
}
"""Every format, in the order documentation lists them."""
