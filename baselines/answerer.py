"""The one interface for anything that answers a Scale-VQA item: heuristics, learned scorers, LLMs, VLMs.

An :class:`Answerer` optionally learns from labelled items (:meth:`Answerer.fit`), then answers items with an
:class:`Answer`: a letter (or none), optional per-option scores and, for generative models, the raw text.
Text-only answerers (``uses_images = False``) never look at image paths.
"""

from __future__ import annotations

import hashlib
import random
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from evaluator.chat.backend import ChatError
from scale_vqa.item import Item


@dataclass(frozen=True)
class Answer:
    """An answerer's reply to one item."""

    letter: str | None
    scores: tuple[float, ...] | None = None
    """One score per option (higher = more likely gold), when the answerer has them."""
    raw: str | None = None
    """The generated text, for generative answerers (parsed with the core parser)."""


AnswererError = ChatError
"""An answerer cannot run (missing key, unreachable server, no training items): the chat backends' error, so one
``except`` catches both; a :class:`~scale_vqa.errors.ScaleVQAError` (exit 1)."""


class Answerer(ABC):
    """Answers items. Subclasses set `name`, and `trainable` when :meth:`fit` learns from gold labels."""

    name: str = "answerer"
    uses_images: bool = False
    trainable: bool = False

    def fit(self, items: Sequence[Item]) -> Answerer:
        """Learn from labelled items (no-op unless `trainable`); returns self."""
        return self

    @abstractmethod
    def answer(self, items: Sequence[Item]) -> list[Answer]:
        """One :class:`Answer` per item, in order."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


def tie_break_rng(*parts: object) -> random.Random:
    """A random generator seeded from `parts` (e.g. seed, answerer name, item id): reproducible tie-breaks
    that do not depend on option order or on which other items are answered."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def argmax_by_text(scores: Sequence[float], texts: Sequence[str], *parts: object) -> int:
    """The index of the highest score, ties (within 1e-12) broken by a key of each tied *text* seeded from
    `parts`: a rule that reads only the options then picks the same text in every item that offers the same set,
    as an option-only rule must, instead of adding a per-item coin flip; and no answerer's tie-breaks depend on
    which others ran before it."""
    best = max(scores)
    tied = [i for i, s in enumerate(scores) if s >= best - 1e-12]
    if len(tied) == 1:
        return tied[0]
    return max(tied, key=lambda i: hashlib.sha256("\x1f".join(map(str, (*parts, texts[i]))).encode()).digest())


def argmax_letter(scores: Sequence[float], letters: str, rng: random.Random) -> str:
    """The letter of the highest score; ties broken uniformly at random with `rng`."""
    best = max(scores)
    tied = [i for i, s in enumerate(scores) if s >= best - 1e-12]
    return letters[tied[0] if len(tied) == 1 else rng.choice(tied)]


class ScoringAnswerer(Answerer):
    """An answerer that scores each option of an item and picks the best (seeded random tie-breaks)."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    @abstractmethod
    def option_scores(self, item: Item) -> list[float]:
        """One score per option; higher = more likely gold."""

    def prepare(self, items: Sequence[Item]) -> None:
        """Label-free preparation over the items about to be answered (e.g. document frequencies)."""

    def answer(self, items: Sequence[Item]) -> list[Answer]:
        self.prepare(items)
        out = []
        for item in items:
            scores = self.option_scores(item)
            rng = tie_break_rng(self.seed, self.name, item.id)
            out.append(Answer(argmax_letter(scores, item.letters, rng), tuple(scores)))
        return out
