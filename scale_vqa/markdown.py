"""Markdown (GitHub-flavoured) tables: the one way Scale-VQA writes a table for a terminal, a report or a card."""

from __future__ import annotations

from collections.abc import Sequence

ALIGN = {"l": ("-", "-"), "c": (":", ":"), "r": ("-", ":")}


def _cell(value: object) -> str:
    """A value as one table cell: pipes escaped, line breaks flattened."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]], align: str | Sequence[str] = "") -> str:
    """A Markdown table. `align` has one letter per column — ``l`` (default), ``c`` or ``r`` — e.g. ``"lcccr"``;
    a shorter string leaves the remaining columns left-aligned. Each rule cell is as wide as its header + 2."""
    letters = list(align) + ["l"] * (len(header) - len(align))
    rule = []
    for h, a in zip(header, letters, strict=False):
        left, right = ALIGN[a]
        rule.append(left + "-" * max(1, len(h)) + right)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(rule) + "|"]
    for row in rows:
        if len(row) != len(header):
            raise ValueError(f"row has {len(row)} cells, the header {len(header)}: {row!r}")
        lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
    return "\n".join(lines)
