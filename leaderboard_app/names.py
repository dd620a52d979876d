"""Submitter and model names: one normal form, no invisible or direction-changing characters, a length limit, and a
confusables check so that nobody can publish under a name that looks like a published model, another model or
another submitter (``ScaleReasoner-R1`` with a Cyrillic ``е``, ``alice`` with a zero-width space).

Pure standard library. :func:`normalise` gives the stored form (NFKC, whitespace runs collapsed); :func:`skeleton`
gives what a name *looks like* (NFKC, casefold, Cyrillic/Greek look-alikes mapped to Latin, separators dropped);
two different names with one skeleton are confusable."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable

MAX_SUBMITTER = 100
"""Characters in a submitter name (model names keep the submission form's own limit)."""

RESERVED = ("official", "verified", "phanetal", "scalevqa", "maintainer", "moderator", "administrator")
"""Skeleton fragments a submitter name may not contain: they would claim the paper's or the maintainers' authority."""

_HOMOGLYPHS = str.maketrans({
    # Cyrillic (lower case: the skeleton is case-folded first)
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c", "т": "t",
    "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "ԁ": "d", "ԛ": "q", "ԝ": "w", "һ": "h", "ӏ": "l",
    "ɡ": "g",
    # Greek
    "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "μ": "u", "ν": "v", "ο": "o", "ρ": "p", "τ": "t",
    "υ": "u", "χ": "x", "ω": "w", "ζ": "z", "σ": "o", "ς": "c",
    # digits and letters that pass for each other
    "0": "o", "1": "l", "i": "l", "|": "l",
})
_DISALLOWED_CATEGORIES = {"Cc": "control character", "Cf": "invisible formatting character (bidi or zero-width)",
                          "Co": "private-use character", "Cs": "surrogate", "Cn": "unassigned code point",
                          "Zl": "line separator", "Zp": "paragraph separator"}
_SPACES = re.compile(r"\s+")


class NameRefused(ValueError):
    """A name that cannot be used; the message says which name and why."""


def _describe(ch: str) -> str:
    return f"U+{ord(ch):04X}" + (f" ({unicodedata.name(ch)})" if unicodedata.name(ch, "") else "")


def normalise(name: str | None, *, what: str, max_len: int = MAX_SUBMITTER) -> str:
    """The stored form of `name` (NFKC, trimmed, inner whitespace runs as one space); raises :class:`NameRefused`
    for a control, bidi, zero-width or other invisible character, or a name longer than `max_len`."""
    raw = name or ""
    if len(raw) > 4 * max_len:  # refuse before normalising a huge string
        raise NameRefused(f"{what}: at most {max_len} characters (got {len(raw)})")
    text = unicodedata.normalize("NFKC", raw)
    for pos, ch in enumerate(text, 1):
        kind = _DISALLOWED_CATEGORIES.get(unicodedata.category(ch))
        if kind:
            raise NameRefused(f"{what}: {_describe(ch)} at character {pos} is a {kind}; type the name without it")
    text = _SPACES.sub(" ", text).strip()
    if len(text) > max_len:
        raise NameRefused(f"{what}: at most {max_len} characters (got {len(text)})")
    return text


@functools.lru_cache(maxsize=65536)
def skeleton(name: str) -> str:
    """What `name` looks like: NFKC, case-folded, look-alike letters mapped to Latin, accents and every character
    that is not a letter or digit dropped (``GPT-5.2``, ``gpt 5 2`` and ``GРТ-5.2`` with Cyrillic letters agree)."""
    text = unicodedata.normalize("NFKC", name).casefold()
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).replace("rn", "m")
    text = text.translate(_HOMOGLYPHS).translate(_HOMOGLYPHS)  # twice: a Greek iota becomes i, then l like 1
    return "".join(ch for ch in text if ch.isalnum())


def imitated(name: str, existing: Iterable[str], *, own: Iterable[str] = ()) -> str | None:
    """The name in `existing` that `name` imitates: same skeleton, different spelling. `name` itself and the
    names in `own` (the same submitter's earlier names) are never imitations."""
    own_set = set(own)
    if name in own_set:
        return None
    mine = skeleton(name)
    for other in existing:
        if other != name and skeleton(other) == mine:
            return other
    return None


def reserved_marker(name: str) -> str | None:
    """The reserved fragment a submitter name contains (``official``, ``Phan et al.``, …), or None."""
    mine = skeleton(name)
    return next((r for r in RESERVED if skeleton(r) in mine), None)
