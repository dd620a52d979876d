"""`parse_answer`: raw model text → option letter, plus how strictly the answer format was followed.

Three levels, each a subset of the next:

* ``format_ok`` — the seed's output format: a ``<think>…</think>`` block, exactly one ``<answer>`` tag, holding
  only a letter, with nothing but whitespace after it. A missing ``</answer>`` at the very end is tolerated
  (lm-eval strips the stop string), unless ``require_closing=True``.
* ``strict`` — the letter was read from an ``<answer>`` tag (the last tag wins; its closing tag may be missing).
  ``<answer>B</answer>``, ``<answer>(b)</answer>``, ``<answer>B. Benign</answer>`` give B;
  ``<answer>Benign</answer>`` and ``<answer>The answer is B</answer>`` give nothing.
* lenient — no usable tag, but the final part of the text (after the last ``</think>``) says
  ``Answer: C`` / ``answer is (C)`` / ``Option C`` or has a line that is just ``C``/``(C)``/``C.``; the last match wins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from .item import LETTERS

Method = Literal["tag", "lenient", "none"]

_OPEN = re.compile(r"<\s*answer\s*>", re.IGNORECASE)
_CLOSE = re.compile(r"<\s*/\s*answer\s*>", re.IGNORECASE)
_THINK_BLOCK = re.compile(r"<think>(.*?)</think>", re.DOTALL | re.IGNORECASE)
_THINK_END = re.compile(r"</think\s*>", re.IGNORECASE)
# Content of an answer tag: optional bracket, one letter, optional bracket/punctuation, then either nothing or
# a separator and more text ("B. Benign", "C) text"); never a letter that starts a word ("Benign").
_TAG_LETTER = re.compile(r"^[\s*_`]*(?P<open>[(\[]?)\s*([A-Za-z])(?P<close>\s*[)\]])?(?P<rest>.*)$", re.DOTALL)
_LENIENT = (  # letters are upper case only; the words around them any case
    re.compile(r"\b(?i:(?:final\s+)?answer)\s*(?i:is|:|=)?\s*[:\-]?\s*[*_`]*[(\[]?\s*([A-Z])(?![A-Za-z\-'])"),
    re.compile(r"\b(?i:option|choice)\s*[(\[]?([A-Z])(?![A-Za-z])[)\]]?[.]?\s*"
               r"(?:(?i:is\s+(?:correct|right|the\s+best))|$|(?=<\s*/\s*answer))", re.MULTILINE),
    re.compile(r"^[\s*_`>#-]*[(\[]?([A-Z])[)\]]?[.:]?[\s*_`]*$", re.MULTILINE),
)
_SEED_LETTER_TAG = re.compile(r"<answer>\s*([A-Za-z])\s*</answer>")


@dataclass(frozen=True)
class ParsedAnswer:
    """Result of :func:`parse_answer`. `letter` is None when no answer could be read."""

    letter: str | None
    strict: bool
    format_ok: bool
    method: Method

    @property
    def lenient(self) -> bool:
        return self.method == "lenient"


def _letter_in_tag(content: str, letters: str) -> str | None:
    """The option letter an answer tag's content names, or None."""
    match = _TAG_LETTER.match(content)
    if not match:
        return None
    raw, raw_rest = match.group(2), match.group("rest")
    rest = raw_rest.strip()
    letter = raw.upper()
    if letter not in letters:
        return None
    if not rest or rest.strip("*_`") == "":
        return letter
    if raw.islower():
        return None  # "a benign lesion": lower case counts only when the letter stands alone
    if match.group("close"):
        return letter  # "(C) text", "C) text"
    if raw_rest[0].isalpha():
        return None  # "Benign"
    if _is_word(content, match.start("rest"), letter):
        return None  # "A benign lesion", "I think …"
    return letter


def _is_word(text: str, end: int, letter: str) -> bool:
    """True when the capital `letter` ending at `end` reads as an English word ("A benign", "I think")."""
    return letter in "AI" and text[end:end + 1] == " " and text[end + 1:end + 2].islower()


def last_answer_tag(text: str) -> tuple[str, bool] | None:
    """Content of the last ``<answer>`` tag and whether it was closed; None when there is no tag."""
    opens = list(_OPEN.finditer(text))
    if not opens:
        return None
    start = opens[-1].end()
    close = _CLOSE.search(text, start)
    if close is None:
        return text[start:], False
    return text[start:close.start()], True


def _lenient_letter(text: str, letters: str) -> str | None:
    ends = list(_THINK_END.finditer(text))
    region = text[ends[-1].end():] if ends and text[ends[-1].end():].strip() else text
    best: tuple[int, str] | None = None
    for pattern in _LENIENT:
        for match in pattern.finditer(region):
            letter = match.group(1)
            if _is_word(region, match.end(1), letter):
                continue
            if letter in letters and (best is None or match.start(1) >= best[0]):
                best = (match.start(1), letter)
    return best[1] if best else None


def think_blocks(text: str) -> list[str]:
    """The contents of every ``<think>…</think>`` block, in order (the one ``<think>`` parser of Scale-VQA)."""
    return _THINK_BLOCK.findall(text)


def reasoning_text(text: str) -> str:
    """The reasoning of a reply: its ``<think>`` blocks joined by newlines, or the whole text when it has none."""
    blocks = think_blocks(text)
    return "\n".join(blocks) if blocks else text


def check_format(text: str, letters: str = LETTERS, *, require_closing: bool = False) -> bool:
    """The seed's format rule (see module docstring); `letters` are the acceptable answer letters."""
    if not _THINK_BLOCK.search(text):
        return False
    opens = list(_OPEN.finditer(text))
    if len(opens) != 1:
        return False
    closes = list(_CLOSE.finditer(text))
    if len(closes) > 1:
        return False
    content_start = opens[0].end()
    if closes:
        close = closes[0]
        if close.start() < content_start:
            return False
        content, tail = text[content_start:close.start()], text[close.end():]
    else:
        if require_closing:
            return False
        content, tail = text[content_start:], ""
    letter = content.strip()
    return len(letter) == 1 and letter.upper() in letters and not tail.strip()


def parse_answer(text: str | None, letters: str = LETTERS) -> ParsedAnswer:
    """Read the answer letter from a model's output. `letters` are the item's option letters (``ABCD``)."""
    if not text:
        return ParsedAnswer(None, False, False, "none")
    letters = letters.upper()
    format_ok = check_format(text, letters)
    tag = last_answer_tag(text)
    if tag is not None:
        letter = _letter_in_tag(tag[0], letters)
        if letter is not None:
            return ParsedAnswer(letter, True, format_ok, "tag")
    letter = _lenient_letter(text, letters)
    if letter is not None:
        return ParsedAnswer(letter, False, False, "lenient")
    return ParsedAnswer(None, False, False, "none")


def seed_answer_letter(text: str) -> str | None:
    """The letter the seed's reward function reads: the *first* ``<answer>X</answer>`` with one letter A–Z
    (either case), upper-cased. Kept for parity checks; :func:`parse_answer` is what Scale-VQA scores with."""
    match = _SEED_LETTER_TAG.search(text)
    return match.group(1).upper() if match else None


def join_reasoning(content: str, reasoning: str | None) -> str:
    """Put back the ``<think>`` block that servers with a reasoning parser (vLLM, ``transformers serve``) move
    out of a reply's ``content`` into ``reasoning_content``."""
    if not reasoning or "<think>" in content:
        return content
    return f"<think>{reasoning}</think>{content.removeprefix('</think>')}"
