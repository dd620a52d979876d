"""Reward functions for GRPO, built on the core parser (:mod:`scale_vqa.parse`). Pure Python, no torch.

Two modes, chosen by ``reward.mode`` in the config:

``seed`` (ScaleReasoner-R1 parity, the default)
    * accuracy: :func:`scale_vqa.parse.seed_answer_letter` (the *first* ``<answer>X</answer>`` holding one letter,
      upper-cased) equals the gold letter;
    * format: :func:`scale_vqa.parse.check_format` with every letter A–Z allowed and the closing tag required.

``scale_vqa``
    * accuracy: the evaluator's strict score, :func:`scale_vqa.parse.parse_answer` (last tag wins, ``(B)`` and
      ``B. text`` accepted, letter must be one of the item's options) read from a tag, equals gold;
    * format: :func:`~scale_vqa.parse.check_format` with the item's own letters, closing tag required.

The total is ``0.8 × accuracy + 0.2 × format`` through TRL's ``reward_weights`` (``sum_then_normalize`` equals
verl's scalar reward), so TRL logs each component as ``rewards/<name>/mean``.

Where the seed's reward *code* (``verl/utils/reward_score/cross_scale_vqa.py``) differs from its paper text
("a think block and exactly one ``<answer>LETTER</answer>``"), seed mode follows the code:

* any letter A–Z in either case earns the format reward (``<answer>z</answer>`` on a 4-option item is
  "well formatted"), and ``<answer> b </answer>`` counts as B for accuracy;
* accuracy does not depend on format: ``<answer>A</answer>`` with no ``<think>`` still earns 0.8;
* accuracy reads the *first* letter tag, so a draft ``<answer>A</answer>`` inside ``<think>`` decides the
  answer (format then fails: two tags); the evaluator reads the last tag.

Where seed mode differs from the seed's code (the core check is shared with the evaluator, so it wins):
tag names are matched case-insensitively and may contain spaces (``<ANSWER>B</ANSWER>``, ``< answer >`` pass
format here, not in the seed), and a second opening tag anywhere fails format here, while the seed passes
``<answer><answer>B</answer>``. Both need output a policy practically never produces.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from scale_vqa.parse import check_format, parse_answer, reasoning_text, seed_answer_letter

RewardMode = Literal["seed", "scale_vqa"]
RewardFunc = Callable[..., list[float | None]]
SEED_LETTERS = string.ascii_uppercase
"""Letters the seed's format reward accepts (A–Z; lower case is upper-cased first)."""


def completion_text(completion: Any) -> str:
    """Text of one TRL completion: a string, or conversational messages (the assistant turn's text)."""
    if isinstance(completion, str):
        return completion
    parts: list[str] = []
    for message in completion:
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(p.get("text", "") for p in content if p.get("type") == "text")
    return "".join(parts)


def accuracy_score(text: str, gold: str, letters: str, mode: RewardMode = "seed") -> float:
    """1.0 when the answer read from `text` is the gold letter, else 0.0."""
    if mode == "seed":
        return float(seed_answer_letter(text) == gold.upper())
    parsed = parse_answer(text, letters)
    return float(parsed.strict and parsed.letter == gold.upper())


def format_score(text: str, letters: str, mode: RewardMode = "seed") -> float:
    """1.0 when `text` follows the seed's output format (see module docstring), else 0.0."""
    allowed = SEED_LETTERS if mode == "seed" else letters
    return float(check_format(text, allowed, require_closing=True))


def answer_letter(text: str, letters: str, mode: RewardMode = "seed") -> str | None:
    """The letter the accuracy reward reads (logged next to each completion)."""
    return seed_answer_letter(text) if mode == "seed" else parse_answer(text, letters).letter


# --- entity consistency (optional, off by default) ---------------------------------------------------------------

PATHOLOGY_ENTITIES: tuple[str, ...] = (
    "adipose", "adenocarcinoma", "apoptosis", "atypia", "basement membrane", "blood vessel", "calcification",
    "capsule", "carcinoma", "cartilage", "chromatin", "collagen", "cribriform", "cyst", "cytoplasm", "desmoplasia",
    "duct", "dysplasia", "edema", "eosinophilic", "epithelium", "erythrocyte", "fibroblast", "fibrosis", "follicle",
    "gland", "granuloma", "haemorrhage", "hemorrhage", "hyalinization", "hyperchromasia", "hyperchromatic",
    "hyperplasia", "infiltrate", "inflammation", "invasion", "keratin", "keratinization", "lumen", "lymphocyte",
    "lymphoid", "macrophage", "metaplasia", "mitosis", "mitotic", "mucin", "mucinous", "muscle",
    "necrosis", "neutrophil", "nerve", "nuclear pleomorphism", "nucleoli", "nucleolus", "nucleus", "papillary",
    "plasma cell", "pleomorphism", "sarcoma", "signet ring", "smooth muscle", "squamous",
    "stroma", "stromal", "tubule", "tumor", "tumour", "ulceration", "vacuole", "vascular", "vessel",
    "mitoses", "nuclei", "oedema",
)
"""Built-in lexicon: common histopathology entities (lower case; singular forms, plurals match too)."""


_SYNONYMS = {"tumour": "tumor", "haemorrhage": "hemorrhage", "oedema": "edema", "mitoses": "mitosis",
             "nuclei": "nucleus", "nucleoli": "nucleolus"}


def _entity_pattern(terms: Iterable[str]) -> re.Pattern[str]:
    alternatives = sorted({t.strip().lower() for t in terms if t.strip()}, key=len, reverse=True)
    body = "|".join(re.escape(t).replace(r"\ ", r"\s+") for t in alternatives)
    return re.compile(rf"\b({body})(?:e?s)?\b", re.IGNORECASE)


def entities(text: str, pattern: re.Pattern[str]) -> set[str]:
    """Lexicon entities mentioned in `text`, normalised (lower case, single spaces, British → US spelling,
    irregular plurals → singular)."""
    found = {" ".join(m.group(1).lower().split()) for m in pattern.finditer(text)}
    return {_SYNONYMS.get(e, e) for e in found}


def entity_f1(reasoning: str, rationale: str, pattern: re.Pattern[str]) -> float | None:
    """F1 of the entities in `reasoning` against those in `rationale`; None when the rationale names none."""
    gold = entities(rationale, pattern)
    if not gold:
        return None
    pred = entities(reasoning, pattern)
    hit = len(pred & gold)
    if not hit:
        return 0.0
    precision, recall = hit / len(pred), hit / len(gold)
    return 2 * precision * recall / (precision + recall)


# --- TRL reward functions ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RewardSpec:
    """Which reward functions to use and their weights (see :mod:`training_reference.config`)."""

    mode: RewardMode = "seed"
    accuracy_weight: float = 0.8
    format_weight: float = 0.2
    entity_weight: float = 0.0
    """> 0 adds the entity-consistency reward (needs the ``rationale`` column)."""
    entity_terms: tuple[str, ...] = PATHOLOGY_ENTITIES
    log_answers: bool = True
    """Add ``id``, ``gold`` and ``answer`` columns to TRL's completions table (one row per completion)."""


def make_reward_funcs(spec: RewardSpec) -> tuple[list[RewardFunc], list[float]]:
    """TRL reward functions and their ``reward_weights``. The prepared dataset supplies ``gold`` (the gold
    letter), ``letters`` (the item's option letters), ``id`` and ``rationale`` columns."""
    mode = spec.mode
    if mode not in ("seed", "scale_vqa"):
        raise ValueError(f"reward.mode: {mode!r} is not one of seed, scale_vqa")

    def accuracy(prompts: Sequence[Any], completions: Sequence[Any], gold: Sequence[str],
                 letters: Sequence[str], **kwargs: Any) -> list[float | None]:
        texts = [completion_text(c) for c in completions]
        log_extra = kwargs.get("log_extra")
        if spec.log_answers and log_extra is not None:
            if "id" in kwargs:
                log_extra("id", list(kwargs["id"]))
            log_extra("gold", list(gold))
            log_extra("answer", [answer_letter(t, ls, mode) or "" for t, ls in zip(texts, letters, strict=True)])
        return [accuracy_score(t, g, ls, mode) for t, g, ls in zip(texts, gold, letters, strict=True)]

    def format_(prompts: Sequence[Any], completions: Sequence[Any], letters: Sequence[str],
                **kwargs: Any) -> list[float | None]:
        return [format_score(completion_text(c), ls, mode) for c, ls in zip(completions, letters, strict=True)]

    format_.__name__ = "format"  # TRL names the logged component after the function
    funcs: list[RewardFunc] = [accuracy, format_]
    weights = [spec.accuracy_weight, spec.format_weight]
    if spec.entity_weight > 0:
        pattern = _entity_pattern(spec.entity_terms)

        def entity_consistency(prompts: Sequence[Any], completions: Sequence[Any], rationale: Sequence[str],
                               **kwargs: Any) -> list[float | None]:
            return [entity_f1(reasoning_text(completion_text(c)), r or "", pattern)
                    for c, r in zip(completions, rationale, strict=True)]

        funcs.append(entity_consistency)
        weights.append(spec.entity_weight)
    return funcs, weights


def total_reward(text: str, gold: str, letters: str = "ABCD", mode: RewardMode = "seed",
                 weights: tuple[float, float] = (0.8, 0.2)) -> float:
    """The scalar the seed's verl run used: ``0.8 × accuracy + 0.2 × format`` (for checks and logs)."""
    return weights[0] * accuracy_score(text, gold, letters, mode) + weights[1] * format_score(text, letters, mode)
